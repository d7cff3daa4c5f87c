package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/peercam/peercam/rendezvous/signaling"
	"github.com/peercam/peercam/viewer/h264sink"
	"github.com/peercam/peercam/viewer/keycache"
	"github.com/peercam/peercam/viewer/session"
)

// result is the -json line: the contract's fields and a few more.
type result struct {
	ID     string `json:"id,omitempty"`
	Path   string `json:"path,omitempty"`   // direct or relay
	Local  string `json:"local,omitempty"`  // local candidate type of the pair in use
	Remote string `json:"remote,omitempty"` // remote candidate type of the pair in use
	// The kinds of candidates each side offered: the viewer's (local) and
	// the camera's (remote).
	LocalCandidates  []string `json:"local_candidates,omitempty"`
	RemoteCandidates []string `json:"remote_candidates,omitempty"`
	CameraRelay      string   `json:"camera_relay,omitempty"` // the camera's relay setting
	TTFFMS           float64  `json:"ttff_ms,omitempty"`
	LoginMS          float64  `json:"login_ms,omitempty"`
	// OpenMS: start to the rendezvous's answer (connection and open).
	// GatherMS: how long the viewer gathered candidates. AnswerMS: start
	// to the camera's answer applied. ICEMS: the answer applied to a
	// working candidate pair. ConnectedMS: start to DTLS up.
	OpenMS      float64 `json:"open_ms,omitempty"`
	GatherMS    float64 `json:"gather_ms,omitempty"`
	AnswerMS    float64 `json:"answer_ms,omitempty"`
	ICEMS       float64 `json:"ice_ms,omitempty"`
	ConnectedMS float64 `json:"connected_ms,omitempty"`
	// FirstDirectMS and FirstRelayMS: the answer applied to the first
	// direct and relayed candidate pairs that answered a check.
	FirstDirectMS float64 `json:"first_direct_ms,omitempty"`
	FirstRelayMS  float64 `json:"first_relay_ms,omitempty"`
	ICERestarts   int     `json:"ice_restarts,omitempty"`
	Frames        int     `json:"frames"`
	Keyframes     int     `json:"keyframes"`
	Bytes         int64   `json:"bytes"`
	DurationMS    float64 `json:"duration_ms"`
	KeyCached     bool    `json:"key_cached"`
	Out           string  `json:"out,omitempty"`
	Error         string  `json:"error,omitempty"`
}

type loginFlags struct {
	id, rendezvous, passwordFile, keyCache string
	timeout                                time.Duration
	trickle                                string
}

func (l *loginFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.id, "id", "", "camera ID (as printed on the camera; case, spaces and dashes do not matter)")
	fs.StringVar(&l.rendezvous, "rendezvous", "", "rendezvous URL, ws:// or wss://")
	fs.StringVar(&l.passwordFile, "password-file", "", "file holding the camera's password or setup code (first line)")
	fs.StringVar(&l.keyCache, "key-cache", "", `where derived keys are remembered (default: the user config dir; "none" to disable)`)
	fs.DurationVar(&l.timeout, "timeout", 20*time.Second, "how long to wait for each step of the login and for the first frame")
	fs.StringVar(&l.trickle, "trickle", session.TrickleCamera, `trickle ICE: "camera" (the camera sends its candidates, sealed, after the login instead of gathering before its answer), "both" (the viewer too), "off" (both gather first)`)
}

// config checks the flags and builds the session config.
func (l *loginFlags) config() (session.Config, error) {
	var c session.Config
	if l.id == "" || l.rendezvous == "" {
		return c, fmt.Errorf("%w: -id and -rendezvous are required", errUsage)
	}
	id, err := signaling.ParseID(l.id)
	if err != nil {
		return c, err // a sentence that starts with "camera ID:"
	}
	c = session.Config{Rendezvous: l.rendezvous, ID: id, Timeout: l.timeout, RestartICE: true}
	switch l.trickle {
	case "off":
	case session.TrickleCamera, session.TrickleBoth:
		c.Trickle = l.trickle
	default:
		return c, fmt.Errorf("%w: -trickle %q: use camera, both or off", errUsage, l.trickle)
	}
	if l.passwordFile != "" {
		pw, err := readPasswordFile(l.passwordFile)
		if err != nil {
			return c, err
		}
		c.Password = pw
	}
	switch l.keyCache {
	case "none":
	case "":
		if p, err := keycache.DefaultPath(); err == nil {
			c.Keys = keycache.Open(p)
		}
	default:
		c.Keys = keycache.Open(l.keyCache)
	}
	if c.Password == "" && c.Keys == nil {
		return c, fmt.Errorf("%w: give the password with -password-file FILE", errUsage)
	}
	return c, nil
}

// readPasswordFile returns the first line of path.
func readPasswordFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("password file: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return "", fmt.Errorf("password file %s: the first line is empty", path)
	}
	return line, nil
}

func cmdWatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("camview watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var lf loginFlags
	lf.register(fs)
	frames := fs.Int("frames", 0, "stop after this many frames (0: until interrupted)")
	out := fs.String("out", "", "write the video to this file (H.264 Annex B; ffprobe and ffplay read it)")
	asJSON := fs.Bool("json", false, "print the result as one JSON object on the last line of stdout")
	events := fs.Bool("events", false, "print motion events and recording changes on stdout as they come (with -json one JSON object a line, before the result)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	var notices func(notice)
	if *events {
		notices = noticePrinter(stdout, *asJSON)
	}
	res, err := watch(ctx, &lf, *frames, *out, stderr, notices)
	if err != nil {
		res.Error = sentence(err)
	}
	if *asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(b))
	} else if err == nil {
		fmt.Fprintf(stdout, "%d frames over a %s path (%s/%s), first frame after %.0f ms", res.Frames, res.Path, res.Local, res.Remote, res.TTFFMS)
		if res.Out != "" {
			fmt.Fprintf(stdout, ", written to %s", res.Out)
		}
		fmt.Fprintln(stdout)
	}
	if err != nil {
		return fail(stderr, err)
	}
	return 0
}

func watch(ctx context.Context, lf *loginFlags, frames int, out string, stderr io.Writer, notices func(notice)) (res result, err error) {
	start := time.Now()
	cfg, err := lf.config()
	if err != nil {
		return res, err
	}
	res.ID = cfg.ID.String()
	s, err := session.Dial(ctx, cfg)
	if err != nil {
		return res, err
	}
	defer s.Close()
	res.LoginMS = ms(time.Since(start))
	res.KeyCached = s.KeyCached
	res.CameraRelay = s.CameraRelay
	// What the session saw of ICE, whatever the outcome.
	defer func() {
		t := s.Times()
		since := func(x time.Time) float64 {
			if x.IsZero() {
				return 0
			}
			return ms(x.Sub(start))
		}
		res.OpenMS, res.AnswerMS, res.ConnectedMS = since(t.Opened), since(t.Answered), since(t.Connected)
		if !t.Gathered.IsZero() && !t.Opened.IsZero() {
			res.GatherMS = ms(t.Gathered.Sub(t.Opened))
		}
		if !t.ICEConnected.IsZero() && !t.Answered.IsZero() {
			res.ICEMS = ms(t.ICEConnected.Sub(t.Answered))
		}
		res.ICERestarts = t.Restarts
		direct, relay := s.FirstChecks()
		res.FirstDirectMS, res.FirstRelayMS = ms(direct), ms(relay)
		res.LocalCandidates, res.RemoteCandidates = s.CandidateTypes()
	}()
	if s.Mode == signaling.ModeSetup {
		return res, fmt.Errorf("%w (camview passwd, or camctl passwd on the camera)", session.ErrSetupRequired)
	}
	if notices != nil {
		stop := followNotices(ctx, s, lf.timeout, notices, stderr)
		defer stop()
	}

	var w io.Writer = io.Discard
	var file *os.File
	if out != "" {
		file, err = os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.part")
		if err != nil {
			return res, fmt.Errorf("output: %w", err)
		}
		w = file
		defer func() {
			if file != nil { // not handed over: remove the partial file
				file.Close()
				os.Remove(file.Name())
			}
		}()
	}

	var track *webrtc.TrackRemote
	select {
	case track = <-s.Tracks:
	case <-ctx.Done():
		return res, ctx.Err()
	case <-s.Failed():
		return res, s.Err()
	case <-time.After(lf.timeout):
		return res, fmt.Errorf("%w within %s: the camera accepted the login but no network path carried its video", errNoVideo, lf.timeout)
	}
	sink, err := h264sink.New(h264sink.Config{
		Writer: w,
		OnPictureLoss: func() {
			s.PC.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(track.SSRC())}})
		},
		MaxFrames: frames,
	})
	if err != nil {
		return res, err
	}
	// A connection lost for good (ICE restarts did not help) ends the run.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	go func() {
		select {
		case <-s.Failed():
			stopRun()
		case <-runCtx.Done():
		}
	}()
	runErr := sink.Run(runCtx, track)
	if ctx.Err() == nil && s.Err() != nil {
		runErr = s.Err()
	}
	st := sink.Stats()
	res.Frames, res.Keyframes, res.Bytes = st.Frames, st.Keyframes, st.Bytes
	if !st.FirstFrameAt.IsZero() {
		res.TTFFMS = ms(st.FirstFrameAt.Sub(start))
	}
	res.DurationMS = ms(time.Since(start))
	if p, ok := s.Path(); ok {
		res.Path, res.Local, res.Remote = p.Kind, p.Local, p.Remote
	}
	if res.Frames == 0 {
		if runErr == nil || errors.Is(runErr, context.Canceled) {
			runErr = errNoVideo
		}
		return res, runErr
	}
	if file != nil {
		if err := file.Sync(); err != nil {
			return res, fmt.Errorf("output: %w", err)
		}
		if err := file.Close(); err != nil {
			return res, fmt.Errorf("output: %w", err)
		}
		if err := os.Rename(file.Name(), out); err != nil {
			return res, fmt.Errorf("output: %w", err)
		}
		file = nil
		res.Out = out
	}
	// Interrupted or ended by the camera after some frames: what arrived is
	// kept and reported; a real failure is still an error.
	if runErr != nil && !errors.Is(runErr, context.Canceled) && !errors.Is(runErr, io.EOF) {
		return res, runErr
	}
	if frames > 0 && res.Frames < frames && ctx.Err() == nil {
		return res, fmt.Errorf("the stream ended after %d of %d frames", res.Frames, frames)
	}
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
