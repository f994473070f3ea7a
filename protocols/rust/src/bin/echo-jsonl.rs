//! Reference stdiobridge child for the `jsonl` codec, in Rust: answers every request with the
//! same JSON value, parsed into a `serde_json::Value` and written again.
//!
//! One JSON value per line on stdin, one answer per line on stdout, flushed after each line;
//! exits 0 at the end of stdin; SIGTERM keeps its default action (exit at once). With
//! STDIOBRIDGE_TAGGED=1 each frame is `[id, message]` and the answer carries the same id.
//! Cargo features that matter: `preserve_order` (the host compares object key order),
//! `float_roundtrip` (floats come back exactly) and `unbounded_depth` (the host nests up to
//! 254 levels, serde_json stops at 128 by default).
use serde::Deserialize;
use serde_json::{json, Value};
use std::io::{self, BufRead, BufWriter, Read, Write};
use std::process::exit;

/// The largest line accepted, as the host's default `max_frame`.
const MAX_FRAME: u64 = 64 << 20;

/// Turns one request into its response: your logic goes here; this one echoes.
fn handle(request: Value) -> Value {
    request
}

fn main() {
    let tagged = std::env::var("STDIOBRIDGE_TAGGED").as_deref() == Ok("1");
    let mut input = io::stdin().lock();
    let mut out = BufWriter::new(io::stdout().lock()); // stdout carries frames only
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut input)
            .take(MAX_FRAME + 1)
            .read_until(b'\n', &mut line);
        match n {
            Ok(0) => return, // end of stdin: the host is done with us, exit 0
            Ok(_) if line.last() == Some(&b'\n') => {}
            Ok(n) if n as u64 > MAX_FRAME => fail("a line longer than 64 MiB"),
            Ok(_) => fail("stdin ended in the middle of a line"),
            Err(e) => fail(&format!("reading stdin: {e}")),
        }
        let request = parse(&line);
        let answer = if tagged {
            let (id, message) = untag(request);
            json!([id, handle(message)])
        } else {
            handle(request)
        };
        let written = serde_json::to_writer(&mut out, &answer)
            .map_err(io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush()); // flush after every frame, or the host waits
        if let Err(e) = written {
            fail(&format!("writing stdout: {e}"));
        }
    }
}

/// Parses one line holding exactly one JSON value, at any nesting depth.
fn parse(line: &[u8]) -> Value {
    let mut de = serde_json::Deserializer::from_slice(line);
    de.disable_recursion_limit();
    let value = Value::deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    value.unwrap_or_else(|e| fail(&format!("a request that is not one JSON value: {e}")))
}

/// Splits a tagged frame `[id, message]` into its id and message.
fn untag(request: Value) -> (Value, Value) {
    match request {
        Value::Array(mut pair) if pair.len() == 2 && pair[0].is_u64() => {
            let message = pair.pop().unwrap_or(Value::Null);
            (pair.pop().unwrap_or(Value::Null), message)
        }
        _ => fail("a request that is not a tagged frame [id, message]"),
    }
}

/// A fatal error: the reason on stderr, then exit status 1.
fn fail(reason: &str) -> ! {
    eprintln!("echo-jsonl: {reason}");
    exit(1)
}
