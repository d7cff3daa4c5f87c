// Command netlab is Peercam's NAT laboratory: network namespaces joined by
// the kernel's NAT (nftables), with the real rendezvousd, camd and camview
// (see package lab for the topology). It needs root.
//
//	netlab matrix [-bin bin] [-wan veth|tun] [-frames 60] [-json]      the NAT matrix as a table
//	netlab matrix -figures [-rtts 0,20,100] [-runs 5]                  time to first frame per path and round trip
//	netlab up [-a cone|symmetric] [-b cone|symmetric] [-relay R] [-rtt D] [-loss P]
//	                                                                   build one lab and keep it until Ctrl-C
//	netlab clean [-all]                                                remove namespaces left by labs that died
//
// Every lab's namespaces are named pcl-<pid>-<n>-<role>; they are removed on
// exit and on SIGINT/SIGTERM. Exit status: 0 when every case passed, 1 when
// one did not, 2 for usage errors.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/peercam/peercam/tools/netlab/lab"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: netlab matrix [-figures] [flags] | netlab up [flags] | netlab clean [-all]
run "netlab COMMAND -h" for a command's flags`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "matrix":
		err = matrix(ctx, args[1:], stdout, stderr)
	case "up":
		err = up(ctx, args[1:], stdout, stderr)
	case "clean":
		err = clean(ctx, args[1:], stdout, stderr)
	default:
		fmt.Fprintln(stderr, usage)
		return 2
	}
	var fail failedError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp), errors.Is(err, errUsage):
		return 2
	case errors.As(err, &fail):
		return 1
	}
	fmt.Fprintln(stderr, "netlab:", err)
	return 1
}

var errUsage = errors.New("usage")

type failedError struct{ n int }

func (e failedError) Error() string { return fmt.Sprintf("%d cases failed", e.n) }

type common struct {
	bin, dir, wan string
	verbose       bool
	env           []string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.bin, "bin", "bin", "directory with rendezvousd, camd, camview and camctl (make build)")
	fs.StringVar(&c.dir, "dir", "", "keep configs, logs and video here (default: a temporary directory, removed)")
	fs.StringVar(&c.wan, "wan", "", "WAN links: veth (netem for delay), tun (userspace delay line), or empty for veth when the kernel has netem")
	fs.BoolVar(&c.verbose, "v", false, "log the lab's steps")
	fs.Func("env", "extra environment VAR=VALUE for camd and camview, e.g. PEERCAM_ICE_TUNING=pion (repeatable)", func(v string) error {
		if !strings.Contains(v, "=") {
			return errors.New("want VAR=VALUE")
		}
		c.env = append(c.env, v)
		return nil
	})
}

func (c *common) config(stderr io.Writer) (lab.Config, func(), error) {
	level := slog.LevelWarn
	if c.verbose {
		level = slog.LevelInfo
	}
	cfg := lab.Config{Bin: c.bin, WAN: c.wan, Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))}
	cfg.Env = c.env
	for _, name := range []string{"rendezvousd", "camd", "camview", "camctl"} {
		if _, err := os.Stat(c.bin + "/" + name); err != nil {
			return cfg, nil, fmt.Errorf("%s/%s is missing: run make build (or give -bin DIR)", c.bin, name)
		}
	}
	done := func() {}
	if c.dir == "" {
		d, err := os.MkdirTemp("", "netlab-")
		if err != nil {
			return cfg, nil, err
		}
		cfg.Dir = d
		done = func() { os.RemoveAll(d) }
	} else {
		if err := os.MkdirAll(c.dir, 0o700); err != nil {
			return cfg, nil, err
		}
		cfg.Dir = c.dir
	}
	return cfg, done, nil
}

func matrix(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("netlab matrix", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs)
	frames := fs.Int("frames", 60, "frames per case")
	asJSON := fs.Bool("json", false, "print one JSON object per case (or figure) instead of a table")
	figures := fs.Bool("figures", false, "measure time to first frame (direct and relayed) at each -rtts instead of the matrix")
	rtts := fs.String("rtts", "0,20,100", "figures: added round trips, in ms")
	runs := fs.Int("runs", 5, "figures: runs per path and round trip (after one warm-up run)")
	var camviewArgs []string
	fs.Func("camview", "an extra camview watch flag, e.g. -camview -trickle=false (repeatable)", func(v string) error {
		camviewArgs = append(camviewArgs, v)
		return nil
	})
	cases := fs.String("cases", "cone/cone,symmetric/symmetric", "figures: the matrix cases to measure, comma separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, done, err := c.config(stderr)
	if err != nil {
		return err
	}
	defer done()
	if *figures {
		var cs []lab.Case
		for _, name := range strings.Split(*cases, ",") {
			i := slices.IndexFunc(lab.Matrix, func(c lab.Case) bool { return c.Name == strings.TrimSpace(name) })
			if i < 0 {
				return fmt.Errorf("%w: -cases: no case %q", errUsage, name)
			}
			cs = append(cs, lab.Matrix[i])
		}
		return figuresCmd(ctx, cfg, cs, *rtts, *runs, lab.WatchOptions{Args: camviewArgs}, *asJSON, stdout)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	if !*asJSON {
		fmt.Fprintln(tw, "case\twant\tgot\tcandidates (cam/view)\tttff ms\tframes\tmapping A/B\tresult")
		tw.Flush()
	}
	failed := 0
	for _, cs := range lab.Matrix {
		o, err := lab.RunCase(ctx, cfg, cs, lab.WatchOptions{Frames: *frames, Args: camviewArgs})
		if err != nil {
			return fmt.Errorf("%s: %w", cs.Name, err)
		}
		if !o.Passed() {
			failed++
		}
		if *asJSON {
			json.NewEncoder(stdout).Encode(outcomeJSON(o))
			continue
		}
		r := o.Result
		got := r.Path
		if got != "" {
			got += " " + r.Local + "/" + r.Remote
		} else {
			got = "no video: " + r.Error
		}
		verdict := "ok"
		if !o.Passed() {
			verdict = "FAIL: " + strings.Join(o.Problems, "; ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s / %s\t%.0f\t%d/%d\t%s/%s\t%s\n", o.Name, o.Want, got,
			strings.Join(r.RemoteCandidates, ","), strings.Join(r.LocalCandidates, ","),
			r.TTFFMS, r.Decoded, *frames, o.MappingA.Behaviour(), o.MappingB.Behaviour(), verdict)
		tw.Flush()
		if !o.Passed() && c.verbose {
			fmt.Fprintf(stderr, "--- camd:\n%s\n--- camview:\n%s\n", o.CamdLog, r.Stderr)
		}
	}
	if failed > 0 {
		return failedError{failed}
	}
	return nil
}

func outcomeJSON(o *lab.Outcome) map[string]any {
	r := o.Result
	return map[string]any{
		"case": o.Name, "want": o.Want, "wan": o.WAN, "passed": o.Passed(), "problems": o.Problems,
		"mapping_a": o.MappingA, "mapping_b": o.MappingB,
		"filtering_a": o.FilteringA, "filtering_b": o.FilteringB,
		"camview": r, "exit": r.ExitCode, "elapsed_ms": r.Elapsed.Milliseconds(), "decoded": r.Decoded,
	}
}

func figuresCmd(ctx context.Context, cfg lab.Config, cases []lab.Case, rttList string, runs int, wo lab.WatchOptions, asJSON bool, stdout io.Writer) error {
	var rtts []time.Duration
	for _, s := range strings.Split(rttList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 0 {
			return fmt.Errorf("%w: -rtts %q: give milliseconds, e.g. 0,20,100", errUsage, rttList)
		}
		rtts = append(rtts, time.Duration(n)*time.Millisecond)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	if !asJSON {
		fmt.Fprintln(tw, "path\tcase\tadded RTT\truns\tttff ms (min-max)\topen\tgather\tanswer\tice\tconnected\tice share\t1st direct\t1st relay\tline late\tpaths")
		tw.Flush()
	}
	_, err := lab.Figures(ctx, cfg, cases, rtts, runs, wo, func(f lab.Figure) {
		if asJSON {
			json.NewEncoder(stdout).Encode(f)
			return
		}
		share := 0.0
		if f.TTFF > 0 {
			share = 100 * (f.ICE + f.Gather) / f.TTFF
		}
		fmt.Fprintf(tw, "%s\t%s\t%d ms\t%d\t%.0f (%.0f-%.0f)\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f%%\t%.0f\t%.0f\t%s\t%v\n",
			f.Path, f.Case, f.RTT.Milliseconds(), f.Runs, f.TTFF, f.TTFFMin, f.TTFFMax, f.Open, f.Gather, f.Answer, f.ICE, f.Connected, share, f.FirstDirect, f.FirstRelay, f.Lateness.Round(time.Millisecond), f.Paths)
		tw.Flush()
	})
	if err == nil && !asJSON {
		fmt.Fprintf(stdout, "\nWAN links: %s. Milliseconds, medians; warm key cache (argon2id left out).\nopen: start to the rendezvous's answer; gather: the viewer's gathering; answer: start to the camera's answer\n(includes the camera's gathering); ice: answer to a working pair; ice share = (gather + ice) / ttff;\n1st direct, 1st relay: answer to the first direct and relayed pair that answered a check;\nline late: the most the userspace delay line was late with a packet (the lab's own error on a busy machine).\n", wanName(cfg.WAN))
	}
	return err
}

func wanName(w string) string {
	if w == "" {
		return "veth with netem when the kernel has it, else the TUN delay line"
	}
	return w
}

func up(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("netlab up", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs)
	a := fs.String("a", "cone", "router A (camera): cone or symmetric")
	b := fs.String("b", "cone", "router B (viewer): cone or symmetric")
	relay := fs.String("relay", "fallback", "camd's relay setting: fallback, never or always")
	rtt := fs.Duration("rtt", 0, "added round trip between camera and viewer")
	loss := fs.Float64("loss", 0, "packet loss on each WAN link and direction, in percent")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, done, err := c.config(stderr)
	if err != nil {
		return err
	}
	defer done()
	cfg.A, cfg.B, cfg.Relay = lab.NAT(*a), lab.NAT(*b), *relay
	l, err := lab.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer l.Close()
	if *rtt > 0 || *loss > 0 {
		if err := l.SetPath(ctx, *rtt, *loss/100); err != nil {
			return err
		}
	}
	ma, err := l.Probe(lab.Cam)
	if err != nil {
		return err
	}
	mb, err := l.Probe(lab.Viewer)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "lab %s up (WAN %s); camera %s, password %q\n", l.Prefix(), l.WANKind, l.CameraID, l.Password)
	fmt.Fprintf(stdout, "router A maps %s (%s -> %s, %s)\nrouter B maps %s (%s -> %s, %s)\n",
		ma.Behaviour(), ma.Local, ma.ViaSTUN, ma.ViaTURN, mb.Behaviour(), mb.Local, mb.ViaSTUN, mb.ViaTURN)
	fmt.Fprintf(stdout, "watch with:\n  echo %q > /tmp/pw && ip netns exec %s %s/camview watch -id %s -rendezvous %s -password-file /tmp/pw -frames 60 -json\n",
		l.Password, l.NS(lab.Viewer), cfg.Bin, l.CameraID, l.URL)
	fmt.Fprintln(stdout, "Ctrl-C removes the lab.")
	<-ctx.Done()
	return nil
}

func clean(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("netlab clean", flag.ContinueOnError)
	fs.SetOutput(stderr)
	all := fs.Bool("all", false, "also remove the namespaces of labs that are still running")
	if err := fs.Parse(args); err != nil {
		return err
	}
	removed, err := lab.Clean(ctx, *all)
	for _, n := range removed {
		fmt.Fprintln(stdout, "removed", n)
	}
	if len(removed) == 0 && err == nil {
		fmt.Fprintln(stdout, "nothing to remove")
	}
	return err
}
