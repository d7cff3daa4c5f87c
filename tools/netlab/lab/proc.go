package lab

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"time"
)

// maxKept bounds the output of one process kept in memory.
const maxKept = 4 << 20

// proc is a binary running in one of the lab's namespaces. Its output goes
// to Dir/<name>.log and, up to maxKept, to memory for waitFor.
type proc struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	more chan struct{} // a line arrived (capacity 1)
	done chan struct{}
	err  error
}

// start runs bin/name in the namespace of role.
func (l *Lab) start(role, name string, env []string, args ...string) (*proc, error) {
	p := &proc{name: name, more: make(chan struct{}, 1), done: make(chan struct{})}
	full := append([]string{"netns", "exec", l.NS(role), filepath.Join(l.cfg.Bin, name)}, args...)
	p.cmd = exec.Command("ip", full...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logf, err := os.Create(filepath.Join(l.cfg.Dir, name+".log"))
	if err != nil {
		return nil, err
	}
	r, w := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("lab: start %s: %w", name, err)
	}
	l.procs = append(l.procs, p)
	go func() {
		defer logf.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			logf.Write(append(sc.Bytes(), '\n'))
			p.mu.Lock()
			if p.out.Len() < maxKept {
				p.out.Write(sc.Bytes())
				p.out.WriteByte('\n')
			}
			p.mu.Unlock()
			select {
			case p.more <- struct{}{}:
			default:
			}
		}
		io.Copy(io.Discard, r)
	}()
	go func() {
		p.err = p.cmd.Wait()
		w.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitFor waits until the output matches re and returns the submatches.
func (p *proc) waitFor(ctx context.Context, re string, d time.Duration) ([]string, error) {
	rx := regexp.MustCompile(re)
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		if m := rx.FindStringSubmatch(p.output()); m != nil {
			return m, nil
		}
		select {
		case <-p.more:
		case <-time.After(100 * time.Millisecond):
		case <-p.done:
			if m := rx.FindStringSubmatch(p.output()); m != nil {
				return m, nil
			}
			return nil, fmt.Errorf("lab: %s exited (%v) before printing %q; its output:\n%s", p.name, p.err, re, tail(p.output(), 3000))
		case <-deadline.C:
			return nil, fmt.Errorf("lab: %s did not print %q within %s; its output:\n%s", p.name, re, d, tail(p.output(), 3000))
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// stop ends the process group: SIGTERM, then SIGKILL after 5 s.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// run runs bin/name to completion, in the namespace of role ("" for the
// host's), and returns its combined output.
func (l *Lab) run(ctx context.Context, role, name string, stdin io.Reader, args ...string) (string, error) {
	path := filepath.Join(l.cfg.Bin, name)
	if role == "" {
		return command(ctx, stdin, path, args...)
	}
	return nsCommand(ctx, l.NS(role), stdin, path, args...)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
