package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// What a case must end with.
const (
	WantDirect = "direct"
	WantRelay  = "relay"
	WantAny    = "direct or relay"
	WantFail   = "fail"
)

// FailBound is how soon camview must give up when no path is allowed.
const FailBound = 30 * time.Second

// NeverSentence is what camview must say when the camera's relay: never
// leaves no path.
const NeverSentence = "relay: never"

// Case is one line of the NAT matrix.
type Case struct {
	Name  string
	A, B  NAT
	Relay string
	Want  string
}

// Matrix is the NAT matrix of issue 4.
var Matrix = []Case{
	{Name: "cone/cone", A: Cone, B: Cone, Want: WantDirect},
	{Name: "cone/symmetric", A: Cone, B: Symmetric, Want: WantAny},
	{Name: "symmetric/symmetric", A: Symmetric, B: Symmetric, Want: WantRelay},
	{Name: "symmetric/symmetric, relay: never", A: Symmetric, B: Symmetric, Relay: "never", Want: WantFail},
}

// Outcome is one case run through a lab.
type Outcome struct {
	Case
	// WAN is the kind of WAN link the lab used.
	WAN string
	// MappingA and MappingB are the STUN probes behind each router;
	// FilteringA and FilteringB what reached a socket behind it.
	MappingA, MappingB     Mapping
	FilteringA, FilteringB Filtering
	// Result is camview's run.
	Result *Result
	// Problems lists each way the case did not behave as wanted; empty
	// means it passed.
	Problems []string
	// CamdLog and RendezvousLog are the processes' output, for a report of
	// a failure.
	CamdLog, RendezvousLog string
}

// Passed reports whether the case behaved as wanted.
func (o *Outcome) Passed() bool { return len(o.Problems) == 0 }

func (o *Outcome) problem(format string, a ...any) {
	o.Problems = append(o.Problems, fmt.Sprintf(format, a...))
}

// RunCase builds a lab for c (cfg's A, B and Relay are replaced by the
// case's; cfg.Dir gets a directory for the case), checks the routers'
// behaviour, runs camview once and judges the run. An error means the lab
// itself could not be run; how the case went is in the Outcome.
func RunCase(ctx context.Context, cfg Config, c Case, wo WatchOptions) (*Outcome, error) {
	cfg.A, cfg.B, cfg.Relay = c.A, c.B, c.Relay
	dir := filepath.Join(cfg.Dir, strings.NewReplacer("/", "-", ",", "", ":", "", " ", "-").Replace(c.Name))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cfg.Dir = dir
	l, err := Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	o := &Outcome{Case: c, WAN: l.WANKind}
	defer func() { o.CamdLog, o.RendezvousLog = l.CamdLog(), l.RendezvousLog() }()

	// The routers first: a lab whose NAT is not what it claims proves
	// nothing.
	for _, side := range []struct {
		role string
		want NAT
		m    *Mapping
		f    *Filtering
	}{{Cam, c.A, &o.MappingA, &o.FilteringA}, {Viewer, c.B, &o.MappingB, &o.FilteringB}} {
		if *side.m, err = l.Probe(side.role); err != nil {
			return nil, err
		}
		if got := side.m.Behaviour(); got != side.want {
			o.problem("router of %s maps like %s (%+v), want %s", side.role, got, *side.m, side.want)
		}
		if side.want == Cone && !side.m.PortPreserved() {
			o.problem("router of %s does not preserve the port: %+v", side.role, *side.m)
		}
		if *side.f, err = l.CheckFiltering(side.role); err != nil {
			return nil, err
		}
		if side.f.Unsolicited {
			o.problem("router of %s let an unsolicited packet in", side.role)
		}
		if !side.f.Reply {
			o.problem("router of %s dropped a reply", side.role)
		}
	}

	if wo.Frames == 0 {
		wo.Frames = 60
	}
	res, err := l.Watch(ctx, wo)
	if err != nil {
		return nil, err
	}
	o.Result = res
	judge(o, wo.Frames)
	return o, nil
}

// judge fills o.Problems from camview's result.
func judge(o *Outcome, frames int) {
	r := o.Result
	if o.Want == WantFail {
		if r.ExitCode == 0 || r.Frames > 0 {
			o.problem("camview got %d frames (exit %d) where no path is allowed", r.Frames, r.ExitCode)
		}
		if !strings.Contains(r.Error, NeverSentence) {
			o.problem("camview's error %q does not say %q", r.Error, NeverSentence)
		}
		if r.Elapsed > FailBound {
			o.problem("camview gave up after %s, want under %s", r.Elapsed.Round(time.Millisecond), FailBound)
		}
		return
	}
	if r.ExitCode != 0 || r.Error != "" {
		o.problem("camview failed (exit %d): %s", r.ExitCode, r.Error)
		return
	}
	if r.Frames != frames {
		o.problem("camview received %d frames, want %d", r.Frames, frames)
	}
	if r.Decoded < frames*9/10 || r.DecodeError != "" {
		o.problem("ffmpeg decoded %d of %d frames (%s)", r.Decoded, frames, r.DecodeError)
	}
	switch o.Want {
	case WantDirect, WantRelay:
		if r.Path != o.Want {
			o.problem("path %s (%s/%s), want %s", r.Path, r.Local, r.Remote, o.Want)
		}
	case WantAny:
		if r.Path != WantDirect && r.Path != WantRelay {
			o.problem("path %q", r.Path)
		}
	}
	if r.Path == WantRelay && r.Local != "relay" && r.Remote != "relay" {
		o.problem("path relay without a relay candidate (%s/%s)", r.Local, r.Remote)
	}
	if len(r.LocalCandidates) == 0 || len(r.RemoteCandidates) == 0 {
		o.problem("camview reports no candidate types (local %v, remote %v)", r.LocalCandidates, r.RemoteCandidates)
	}
	if o.Relay == "never" && slices.Contains(r.RemoteCandidates, "relay") {
		o.problem("a relay: never camera offered relay candidates: %v", r.RemoteCandidates)
	}
}

// Figure is time to first frame over one kind of path at one added round
// trip, over several runs with a warm key cache.
type Figure struct {
	Case string
	Path string
	RTT  time.Duration
	Runs int
	// Medians of the runs, in milliseconds: TTFF (camview start to first
	// decodable frame), Open (to the rendezvous's answer), Gather (the
	// viewer's candidate gathering), Answer (start to the camera's answer
	// applied: includes the camera's gathering), ICE (answer applied to ICE
	// connected), Connected (start to DTLS up), Login (start to the
	// camera's sealed status).
	TTFF, TTFFMin, TTFFMax    float64
	Open, Gather, Answer, ICE float64
	Connected, Login          float64
	// FirstDirect and FirstRelay: medians of the answer applied to the
	// first direct and relayed pair that answered a check, over the runs
	// where one did (zero if none did).
	FirstDirect, FirstRelay float64
	// Paths counts the paths the runs took, e.g. "direct host/srflx".
	Paths map[string]int
	// Lateness is the most the lab's userspace delay line was late with
	// a packet during the runs (zero on veth).
	Lateness time.Duration
}

// Figures measures time to first frame for each case at each added round
// trip, runs times each after one warm-up login (which fills the key
// cache: the figures leave argon2id out). progress, if not nil, gets each
// figure as it is measured.
func Figures(ctx context.Context, cfg Config, cases []Case, rtts []time.Duration, runs int, wo WatchOptions, progress func(Figure)) ([]Figure, error) {
	var out []Figure
	for _, c := range cases {
		cc := cfg
		cc.A, cc.B, cc.Relay = c.A, c.B, c.Relay
		cc.Dir = filepath.Join(cfg.Dir, "figures-"+strings.ReplaceAll(c.Name, "/", "-"))
		if err := os.MkdirAll(cc.Dir, 0o700); err != nil {
			return out, err
		}
		l, err := Start(ctx, cc)
		if err != nil {
			return out, err
		}
		err = func() error {
			defer l.Close()
			if wo.Frames == 0 {
				wo.Frames = 15
			}
			if r, err := l.Watch(ctx, wo); err != nil {
				return err
			} else if r.ExitCode != 0 {
				return fmt.Errorf("lab: %s: warm-up run failed: %s", c.Name, r.Error)
			}
			for _, rtt := range rtts {
				if err := l.SetPath(ctx, rtt, 0); err != nil {
					return err
				}
				f := Figure{Case: c.Name, RTT: rtt, Paths: map[string]int{}}
				l.Lateness() // from now on
				var ttff, open, gather, answer, ice, conn, login, fd, fr []float64
				for range runs {
					r, err := l.Watch(ctx, wo)
					if err != nil {
						return err
					}
					if r.ExitCode != 0 {
						return fmt.Errorf("lab: %s at %s: camview failed: %s", c.Name, rtt, r.Error)
					}
					if !r.KeyCached {
						return fmt.Errorf("lab: %s: the key cache was not used", c.Name)
					}
					f.Paths[fmt.Sprintf("%s %s/%s", r.Path, r.Local, r.Remote)]++
					f.Path = r.Path
					ttff = append(ttff, r.TTFFMS)
					open = append(open, r.OpenMS)
					gather = append(gather, r.GatherMS)
					answer = append(answer, r.AnswerMS)
					ice = append(ice, r.ICEMS)
					conn = append(conn, r.ConnectedMS)
					login = append(login, r.LoginMS)
					if r.FirstDirectMS > 0 {
						fd = append(fd, r.FirstDirectMS)
					}
					if r.FirstRelayMS > 0 {
						fr = append(fr, r.FirstRelayMS)
					}
				}
				f.Runs = runs
				f.TTFF, f.Open, f.Gather, f.Answer = median(ttff), median(open), median(gather), median(answer)
				f.ICE, f.Connected, f.Login = median(ice), median(conn), median(login)
				f.FirstDirect, f.FirstRelay = median(fd), median(fr)
				f.Lateness = l.Lateness()
				f.TTFFMin, f.TTFFMax = slices.Min(ttff), slices.Max(ttff)
				out = append(out, f)
				if progress != nil {
					progress(f)
				}
			}
			return nil
		}()
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
