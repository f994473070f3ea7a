// Package childtest runs the end-to-end checks of the echo children: the test
// binary of a cmd/echo-* package re-executes itself as the child (see Main), so
// the checks exercise the very main function that `go build` compiles, without
// needing a go command at test time.
package childtest

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"stdiobridge/protocols/go/internal/vectors"
)

// envChild tells a test binary to act as the child.
const envChild = "STDIOBRIDGE_TEST_CHILD"

// Main is the TestMain of a child's package: as the child it runs childMain
// (and exits 0 when it returns, as main would); otherwise it runs the tests.
func Main(m *testing.M, childMain func()) {
	if os.Getenv(envChild) == "1" {
		childMain()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Child is a running echo child.
type Child struct {
	t      testing.TB
	cmd    *exec.Cmd
	Stdin  io.WriteCloser
	Stdout *bufio.Reader
	stderr bytes.Buffer
	timer  *time.Timer
}

// Start starts the child with args; it is killed if still running after
// 20 s, or when the test ends.
func Start(t testing.TB, args ...string) *Child {
	t.Helper()
	return StartEnv(t, nil, args...)
}

// StartEnv is Start with env added to the child's environment.
func StartEnv(t testing.TB, env []string, args ...string) *Child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &Child{t: t, cmd: exec.Command(exe, args...)}
	c.cmd.Env = append(append(os.Environ(), envChild+"=1"), env...)
	c.cmd.Stderr = &c.stderr
	if c.Stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.Stdout = bufio.NewReaderSize(stdout, 1<<20)
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.timer = time.AfterFunc(20*time.Second, func() { c.cmd.Process.Kill() })
	t.Cleanup(func() {
		c.timer.Stop()
		if c.cmd.ProcessState == nil {
			c.cmd.Process.Kill()
			c.cmd.Wait()
		}
	})
	return c
}

// Write writes b to the child's stdin.
func (c *Child) Write(b []byte) {
	c.t.Helper()
	if _, err := c.Stdin.Write(b); err != nil {
		c.t.Fatalf("writing to the child: %v", err)
	}
}

// Wait waits for the child to exit and returns its exit code (-1 if a signal
// ended it), its stderr and how long the wait took.
func (c *Child) Wait() (code int, stderr string, took time.Duration) {
	start := time.Now()
	err := c.cmd.Wait()
	took = time.Since(start)
	c.timer.Stop()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		c.t.Fatalf("waiting for the child: %v", err)
	}
	return c.cmd.ProcessState.ExitCode(), c.stderr.String(), took
}

// Spec describes an echo child to Run.
type Spec struct {
	// Args are the child's command-line arguments, Env additions to its
	// environment (e.g. STDIOBRIDGE_TAGGED=1).
	Args []string
	Env  []string
	// Reader returns a function that reads one raw frame from the child's
	// stdout, with the codec's frame library.
	Reader func(r *bufio.Reader) func() ([]byte, error)
	// Request returns the frame of a request; i varies its content and size
	// (i in [0, 1000)). The child must answer it with the same bytes.
	Request func(i int) []byte
	// Big returns the frame of a request of about n bytes, answered alike.
	Big func(n int) []byte
	// Truncated is the start of a frame, and Invalid a frame that the child
	// must refuse (nil if the codec has none). Both are fatal for the child.
	Truncated, Invalid []byte
}

// Run runs every end-to-end check of spec.
func Run(t *testing.T, spec Spec) {
	t.Run("echo", func(t *testing.T) {
		roundTrips(t, spec, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 999})
	})
	t.Run("pipelined1000", func(t *testing.T) {
		var all []int
		for i := range 1000 {
			all = append(all, i)
		}
		// All 1000 requests are written before any answer is read.
		c := StartEnv(t, spec.Env, spec.Args...)
		var frames bytes.Buffer
		for _, i := range all {
			frames.Write(spec.Request(i))
		}
		written := make(chan error, 1)
		go func() {
			_, err := c.Stdin.Write(frames.Bytes())
			written <- err
		}()
		read := spec.Reader(c.Stdout)
		for _, i := range all {
			expectFrame(t, read, spec.Request(i), i)
		}
		if err := <-written; err != nil {
			t.Fatal(err)
		}
		closeAndExpectExit0(t, c, read)
	})
	t.Run("big4MiB", func(t *testing.T) {
		c := StartEnv(t, spec.Env, spec.Args...)
		big := spec.Big(4 << 20)
		read := spec.Reader(c.Stdout)
		for n := range 2 {
			go c.Stdin.Write(big)
			expectFrame(t, read, big, n)
		}
		closeAndExpectExit0(t, c, read)
	})
	t.Run("eofExits0", func(t *testing.T) {
		c := StartEnv(t, spec.Env, spec.Args...)
		closeAndExpectExit0(t, c, spec.Reader(c.Stdout))
	})
	t.Run("sigtermExitsPromptly", func(t *testing.T) {
		c := StartEnv(t, spec.Env, spec.Args...)
		read := spec.Reader(c.Stdout)
		c.Write(spec.Request(1))
		expectFrame(t, read, spec.Request(1), 1) // now blocked reading stdin
		sent := time.Now()
		if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		code, stderr, _ := c.Wait()
		took := time.Since(sent)
		t.Logf("exit status %d %.1f ms after SIGTERM; stderr %q", code, took.Seconds()*1000, stderr)
		if took > 500*time.Millisecond {
			t.Fatalf("took %v to exit after SIGTERM", took)
		}
	})
	fatal := map[string][]byte{"truncatedAtEOF": spec.Truncated, "invalidFrame": spec.Invalid}
	for name, bad := range fatal {
		if bad == nil {
			continue
		}
		t.Run(name, func(t *testing.T) {
			// A good request is answered; then the bad one is fatal.
			c := StartEnv(t, spec.Env, spec.Args...)
			read := spec.Reader(c.Stdout)
			c.Write(spec.Request(3))
			c.Write(bad)
			expectFrame(t, read, spec.Request(3), 3)
			c.Stdin.Close()
			code, stderr, _ := c.Wait()
			if code != 1 || strings.TrimSpace(stderr) == "" {
				t.Fatalf("exit status %d, stderr %q; want 1 and a reason", code, stderr)
			}
			if rest, _ := io.ReadAll(c.Stdout); len(rest) > 0 {
				t.Fatalf("extra output %q", rest)
			}
			t.Logf("stderr: %s", strings.TrimSpace(stderr))
		})
	}
}

// roundTrips sends each request and reads its answer before the next.
func roundTrips(t *testing.T, spec Spec, requests []int) {
	c := StartEnv(t, spec.Env, spec.Args...)
	read := spec.Reader(c.Stdout)
	for _, i := range requests {
		c.Write(spec.Request(i))
		expectFrame(t, read, spec.Request(i), i)
	}
	closeAndExpectExit0(t, c, read)
}

// RoundTrips starts a child with spec.Args and checks that each frame is
// answered with want[i] (or the frame itself when want is nil).
func RoundTrips(t *testing.T, spec Spec, frames, want [][]byte) {
	t.Helper()
	c := StartEnv(t, spec.Env, spec.Args...)
	read := spec.Reader(c.Stdout)
	for i, f := range frames {
		c.Write(f)
		w := f
		if want != nil {
			w = want[i]
		}
		expectFrame(t, read, w, i)
	}
	closeAndExpectExit0(t, c, read)
}

func expectFrame(t *testing.T, read func() ([]byte, error), want []byte, i int) {
	t.Helper()
	got, err := read()
	if err != nil {
		t.Fatalf("response %d: %v", i, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("response %d:\n got %.200x (%d bytes)\nwant %.200x (%d bytes)", i, got, len(got), want, len(want))
	}
}

// closeAndExpectExit0 closes stdin and checks the child exits 0 with no more
// output and nothing on stderr.
func closeAndExpectExit0(t *testing.T, c *Child, read func() ([]byte, error)) {
	t.Helper()
	c.Stdin.Close()
	if got, err := read(); err != io.EOF {
		t.Fatalf("after stdin closed: %x, %v; want EOF", got, err)
	}
	code, stderr, took := c.Wait()
	if code != 0 || stderr != "" {
		t.Fatalf("exit status %d, stderr %q; want 0 and nothing", code, stderr)
	}
	if took > 5*time.Second {
		t.Fatalf("took %v to exit after EOF", took)
	}
}

// Echoes starts a child from spec and sends the frame of every vector in vs:
// the child must answer each with the same bytes or, for a decode-only vector
// (direction "decode"), with canonical[name].
func Echoes(t *testing.T, spec Spec, vs []vectors.Valid, canonical map[string][]byte) {
	t.Helper()
	var frames, want [][]byte
	for _, v := range vs {
		f := v.Frame(t)
		w := f
		if v.Direction == "decode" {
			if w = canonical[v.Name]; w == nil {
				t.Fatalf("no canonical form for decode-only vector %q", v.Name)
			}
		}
		frames, want = append(frames, f), append(want, w)
	}
	if len(frames) == 0 {
		t.Fatal("no vectors")
	}
	RoundTrips(t, spec, frames, want)
}

// Bench measures one request/response round trip of frame through a child
// started with args, per benchmark iteration.
func Bench(b *testing.B, args []string, frame []byte, reader func(*bufio.Reader) func() ([]byte, error)) {
	c := Start(b, args...)
	read := reader(c.Stdout)
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		c.Write(frame)
		got, err := read()
		if err != nil || len(got) != len(frame) {
			b.Fatalf("response: %d bytes, %v; want %d bytes", len(got), err, len(frame))
		}
	}
	c.Stdin.Close()
	if code, stderr, _ := c.Wait(); code != 0 {
		b.Fatalf("exit status %d: %s", code, stderr)
	}
}

// JSONString64K returns the JSON text of a 64 KiB string (without LF).
func JSONString64K() []byte {
	return []byte(`"` + strings.Repeat("abcdefghijklmnop", 4096) + `"`)
}

// JSONObjects2000 returns the JSON text (without LF) of an array of 2000
// small objects, about 64 KiB.
func JSONObjects2000() []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := range 2000 {
		if i > 0 {
			b.WriteByte(',')
		}
		n := strconv.Itoa(i)
		b.WriteString(`{"id":` + n + `,"tag":"t` + n + `","ok":true}`)
	}
	b.WriteByte(']')
	return b.Bytes()
}
