// Package leaktest finds goroutines that a test leaves running.
//
// Call Check at the start of a test (before anything that starts goroutines):
//
//	func TestServer(t *testing.T) {
//		leaktest.Check(t)
//		...
//	}
//
// Check remembers the goroutines that exist at that moment. When the test
// and its later-registered cleanups are done, it waits up to a few seconds
// for every goroutine started since to exit, and fails the test with the
// stacks of those still running. Goroutines of the runtime and of the testing
// package are never counted.
//
// Goroutines of other tests running at the same time (t.Parallel) cannot be
// told apart from leaks, so do not combine Check with parallel tests in the
// same package.
package leaktest

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// DefaultTimeout is how long Check waits for goroutines to exit.
const DefaultTimeout = 5 * time.Second

// Options tune CheckWith.
type Options struct {
	// Timeout is how long to wait for goroutines to exit after the test.
	// Zero means DefaultTimeout.
	Timeout time.Duration
	// Ignore lists substrings of a goroutine's stack trace (function names,
	// usually) that mark a goroutine as expected to outlive the test, such as
	// a package-global worker started on first use. Nil ignores nothing extra.
	Ignore []string
}

// Check fails t if goroutines started after this call are still running
// DefaultTimeout after the test ends.
func Check(t testing.TB) {
	t.Helper()
	CheckWith(t, Options{})
}

// CheckWith is Check with options.
func CheckWith(t testing.TB, opts Options) {
	t.Helper()
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	before := make(map[string]bool)
	for _, g := range goroutines() {
		before[g.id] = true
	}
	// Cleanups run last-in first-out: registering now makes this run after
	// every cleanup the test registers later, which is where the test's own
	// resources are released.
	t.Cleanup(func() {
		t.Helper()
		leaked := waitSettled(before, opts)
		if len(leaked) == 0 {
			return
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%d goroutine(s) leaked (still running %v after the test):\n", len(leaked), opts.Timeout)
		for _, g := range leaked {
			b.WriteString("\n")
			b.WriteString(g.stack)
			b.WriteString("\n")
		}
		t.Error(b.String())
	})
}

// waitSettled polls until no unexpected goroutine is left or the timeout
// passes, and returns those still running.
func waitSettled(before map[string]bool, opts Options) []goroutine {
	deadline := time.Now().Add(opts.Timeout)
	delay := time.Millisecond
	for {
		leaked := extra(before, opts.Ignore)
		if len(leaked) == 0 || time.Now().After(deadline) {
			return leaked
		}
		time.Sleep(delay)
		if delay < 100*time.Millisecond {
			delay *= 2
		}
	}
}

func extra(before map[string]bool, ignore []string) []goroutine {
	var out []goroutine
	for _, g := range goroutines() {
		if before[g.id] || g.current || expected(g.stack, ignore) {
			continue
		}
		out = append(out, g)
	}
	return out
}

// standard lists stack fragments of goroutines that belong to the runtime or
// the testing package rather than to the code under test.
var standard = []string{
	"testing.tRunner(",            // a test or subtest itself
	"testing.(*T).Run(",           // waiting for a subtest
	"testing.(*T).Parallel(",      // a parallel test waiting its turn
	"testing.(*M).",               // the test binary's main loop
	"testing.runTests",            //
	"testing.runFuzzTests",        //
	"testing.runFuzzing",          //
	"testing.(*F).",               //
	"testing.(*B).",               // benchmarks
	"testing.runExamples",         //
	"runtime.goexit0",             //
	"runtime.ensureSigM",          // os/signal's helper
	"os/signal.signal_recv",       //
	"os/signal.loop",              //
	"runtime/trace.Start",         //
	"runtime.ReadTrace",           //
	"created by runtime.gc",       //
	"created by runtime/pprof",    //
	"runtime/pprof.profileWriter", //
}

func expected(stack string, ignore []string) bool {
	for _, s := range standard {
		if strings.Contains(stack, s) {
			return true
		}
	}
	for _, s := range ignore {
		if s != "" && strings.Contains(stack, s) {
			return true
		}
	}
	return false
}

type goroutine struct {
	id      string
	stack   string
	current bool
}

// goroutines returns every goroutine's stack, parsed from runtime.Stack.
func goroutines() []goroutine {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []goroutine
	for i, block := range bytes.Split(buf, []byte("\n\n")) {
		s := strings.TrimSpace(string(block))
		if !strings.HasPrefix(s, "goroutine ") {
			continue
		}
		id, _, _ := strings.Cut(strings.TrimPrefix(s, "goroutine "), " ")
		// runtime.Stack lists the calling goroutine first.
		out = append(out, goroutine{id: id, stack: s, current: i == 0})
	}
	return out
}
