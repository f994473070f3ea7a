//! Reference stdiobridge child for the `msgpack` codec, in Rust: answers every request with the
//! same msgpack value, read into an `rmpv::Value` and written again (smallest forms, map order
//! and ext types kept, str and bin apart).
//!
//! Values follow each other on stdin with no separator; one answer per request on stdout,
//! flushed after each; exits 0 at the end of stdin; SIGTERM keeps its default action (exit at
//! once). With STDIOBRIDGE_TAGGED=1 each frame is `[id, message]` and the answer carries the
//! same id.
use rmpv::decode::read_value_with_max_depth;
use rmpv::encode::write_value;
use rmpv::Value;
use std::io::{self, BufRead, BufWriter, Write};
use std::process::exit;

/// rmpv counts two steps per level of nesting (1024 steps: about 512 levels); the host sends up
/// to 1024 levels, plus one for the tagged frame.
const MAX_DEPTH: usize = 4096;

/// Turns one request into its response: your logic goes here; this one echoes.
fn handle(request: Value) -> Value {
    request
}

fn main() {
    let tagged = std::env::var("STDIOBRIDGE_TAGGED").as_deref() == Ok("1");
    let mut input = io::stdin().lock();
    let mut out = BufWriter::new(io::stdout().lock()); // stdout carries frames only
    loop {
        match input.fill_buf() {
            Ok([]) => return, // end of stdin: the host is done with us, exit 0
            Ok(_) => {}
            Err(e) => fail(&format!("reading stdin: {e}")),
        }
        let request = read_value_with_max_depth(&mut input, MAX_DEPTH)
            .unwrap_or_else(|e| fail(&format!("reading a request: {e}")));
        let answer = if tagged {
            let (id, message) = untag(request);
            Value::Array(vec![id, handle(message)])
        } else {
            handle(request)
        };
        let written = write_value(&mut out, &answer).map_err(|e| e.to_string());
        if let Err(e) = written.and_then(|()| out.flush().map_err(|e| e.to_string())) {
            fail(&format!("writing stdout: {e}")); // flushed after every frame, or the host waits
        }
    }
}

/// Splits a tagged frame `[id, message]` into its id and message.
fn untag(request: Value) -> (Value, Value) {
    match request {
        Value::Array(mut pair) if pair.len() == 2 && pair[0].is_u64() => {
            let message = pair.pop().unwrap_or(Value::Nil);
            (pair.pop().unwrap_or(Value::Nil), message)
        }
        _ => fail("a request that is not a tagged frame [id, message]"),
    }
}

/// A fatal error: the reason on stderr, then exit status 1.
fn fail(reason: &str) -> ! {
    eprintln!("echo-msgpack: {reason}");
    exit(1)
}
