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
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/peercam/peercam/rendezvous/signaling"
	wire "github.com/peercam/peercam/rendezvous/signaling/playback"
	"github.com/peercam/peercam/viewer/h264sink"
	"github.com/peercam/peercam/viewer/playback"
	"github.com/peercam/peercam/viewer/session"
)

// dialPlayback logs in and opens the playback channel.
func dialPlayback(ctx context.Context, lf *loginFlags) (*session.Session, *playback.Client, error) {
	cfg, err := lf.config()
	if err != nil {
		return nil, nil, err
	}
	s, err := session.Dial(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	if s.Mode == signaling.ModeSetup {
		s.Close()
		return nil, nil, fmt.Errorf("%w (camview passwd, or camctl passwd on the camera)", session.ErrSetupRequired)
	}
	octx, cancel := context.WithTimeout(ctx, lf.timeout)
	defer cancel()
	c, err := playback.Open(octx, s.Channel, s.PC)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, c, nil
}

// parseTime reads a time argument: RFC 3339 ("2026-01-02T03:04:05Z" or
// with an offset), a local date and time ("2026-01-02 03:04:05",
// "2026-01-02T03:04"), "now", or a time relative to now: "-10m",
// "-1h30m", "-2d". Empty is the zero time.
func parseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return time.Time{}, nil
	case s == "now":
		return now, nil
	case strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+"):
		d, err := parseDuration(s[1:])
		if err != nil {
			return time.Time{}, fmt.Errorf("time %q: %v", s, err)
		}
		if s[0] == '-' {
			d = -d
		}
		return now.Add(d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: use RFC 3339 (2026-01-02T03:04:05Z), a local time (2026-01-02 03:04:05), or a time ago (-10m, -2h, -1d)", s)
}

// parseDuration is time.ParseDuration with days ("2d", "1d12h").
func parseDuration(s string) (time.Duration, error) {
	var days time.Duration
	if i := strings.Index(s, "d"); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil {
			return 0, errors.New("not a duration")
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("not a duration")
	}
	return days + d, nil
}

// listing is camview recordings -json.
type listing struct {
	ID        string         `json:"id,omitempty"`
	Recording *wire.Status   `json:"recording,omitempty"`
	Segments  []wire.Segment `json:"segments"`
	Events    []wire.Event   `json:"events"`
	Error     string         `json:"error,omitempty"`
}

func cmdRecordings(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("camview recordings", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var lf loginFlags
	lf.register(fs)
	fromFlag := fs.String("from", "-1d", "list from this time (RFC 3339, local 2006-01-02 15:04, or ago: -10m, -2h, -1d; empty: the oldest)")
	toFlag := fs.String("to", "", "list up to this time (same forms; empty: now)")
	asJSON := fs.Bool("json", false, "print one JSON object: the recording status, segments and events")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	res := listing{Segments: []wire.Segment{}, Events: []wire.Event{}}
	err := func() error {
		now := time.Now()
		from, err := parseTime(*fromFlag, now)
		if err != nil {
			return fmt.Errorf("%w: -from: %v", errUsage, err)
		}
		to, err := parseTime(*toFlag, now)
		if err != nil {
			return fmt.Errorf("%w: -to: %v", errUsage, err)
		}
		s, c, err := dialPlayback(ctx, &lf)
		if err != nil {
			return err
		}
		defer s.Close()
		res.ID = lf.id
		if res.Recording, err = c.Status(ctx); err != nil {
			return err
		}
		res.Segments, res.Events, err = c.List(ctx, from, to, 0)
		return err
	}()
	if err != nil {
		res.Error = sentence(err)
	}
	if *asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(b))
	} else if err == nil {
		printListing(stdout, &res)
	}
	if err != nil {
		return fail(stderr, err)
	}
	return 0
}

func printListing(w io.Writer, l *listing) {
	if st := l.Recording; st == nil {
		fmt.Fprintln(w, "recording: this camera does not record")
	} else if st.State == "error" {
		fmt.Fprintf(w, "recording: %s, stopped: %s\n", st.Mode, st.Error)
	} else {
		fmt.Fprintf(w, "recording: %s, %s (%d segments, %s", st.Mode, st.State, st.Segments, size(st.Bytes))
		if st.FreeBytes >= 0 {
			fmt.Fprintf(w, ", %s free", size(st.FreeBytes))
		}
		fmt.Fprintln(w, ")")
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	if len(l.Segments) == 0 {
		fmt.Fprintln(tw, "no recordings in that time")
	} else {
		fmt.Fprintln(tw, "SEGMENT\tSTART\tEND\tLENGTH\tSIZE\t")
		for _, s := range l.Segments {
			note := ""
			if s.Open {
				note = "recording"
			} else if s.Recovered {
				note = "recovered"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", s.Seq, local(s.Start), local(s.End), s.End.Sub(s.Start).Round(time.Second), size(s.Size), note)
		}
	}
	if len(l.Events) > 0 {
		fmt.Fprintln(tw, "EVENT\tSTART\tEND\tLENGTH\tKIND\t")
		for _, e := range l.Events {
			end, length := "going on", ""
			if !e.End.IsZero() {
				end, length = local(e.End), e.End.Sub(e.Start).Round(time.Second).String()
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t\n", e.ID, local(e.Start), end, length, e.Kind)
		}
	}
	tw.Flush()
}

func local(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") }

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// playResult is camview play -json.
type playResult struct {
	ID string `json:"id,omitempty"`
	// At is the time asked for; Start the capture time of the first frame
	// (the keyframe at or before At); Seq its recording.
	At    time.Time `json:"at,omitzero"`
	Start time.Time `json:"start,omitzero"`
	Seq   uint64    `json:"seq,omitempty"`
	// TTFFMS: the play request to the first decodable frame.
	TTFFMS     float64 `json:"ttff_ms,omitempty"`
	LoginMS    float64 `json:"login_ms,omitempty"`
	Frames     int     `json:"frames"`
	Keyframes  int     `json:"keyframes"`
	Bytes      int64   `json:"bytes"`
	Path       string  `json:"path,omitempty"`
	Ended      string  `json:"ended,omitempty"` // why the camera ended the playback, if it did
	Out        string  `json:"out,omitempty"`
	DurationMS float64 `json:"duration_ms"`
	Error      string  `json:"error,omitempty"`
}

func cmdPlay(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("camview play", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var lf loginFlags
	lf.register(fs)
	atFlag := fs.String("at", "", "play from this time (RFC 3339, local 2006-01-02 15:04:05, or ago: -10m); required")
	frames := fs.Int("frames", 0, "stop after this many frames (0: until the recordings end or interrupted)")
	out := fs.String("out", "", "write the video to this file (H.264 Annex B; ffprobe and ffplay read it)")
	asJSON := fs.Bool("json", false, "print the result as one JSON object on the last line of stdout")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	res, err := play(ctx, &lf, *atFlag, *frames, *out)
	if err != nil {
		res.Error = sentence(err)
	}
	if *asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(b))
	} else if err == nil {
		fmt.Fprintf(stdout, "%d frames from %s (asked for %s), first frame after %.0f ms", res.Frames, local(res.Start), local(res.At), res.TTFFMS)
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

func play(ctx context.Context, lf *loginFlags, atArg string, frames int, out string) (res playResult, err error) {
	start := time.Now()
	if atArg == "" {
		return res, fmt.Errorf("%w: -at is required", errUsage)
	}
	at, err := parseTime(atArg, start)
	if err != nil {
		return res, fmt.Errorf("%w: -at: %v", errUsage, err)
	}
	res.At = at.UTC()
	var file *outFile
	if out != "" {
		if file, err = createOut(out); err != nil {
			return res, err
		}
		defer file.discard()
	}
	s, c, err := dialPlayback(ctx, lf)
	if err != nil {
		return res, err
	}
	defer s.Close()
	res.ID = lf.id
	res.LoginMS = ms(time.Since(start))

	// The session's tracks: the live one is read and dropped, the
	// playback one handed over.
	tracks := make(chan *webrtc.TrackRemote, 1)
	go func() {
		for {
			select {
			case t := <-s.Tracks:
				if playback.IsPlaybackTrack(t) {
					tracks <- t
					continue
				}
				go discard(t)
			case <-c.Done():
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	asked := time.Now()
	p, err := c.Play(ctx, at)
	if err != nil {
		return res, err
	}
	res.Start, res.Seq = p.Start, p.Seq
	var track *webrtc.TrackRemote
	select {
	case track = <-tracks:
	case <-p.Ended():
		return res, fmt.Errorf("%w: the playback ended (%s) before its video arrived", errNoVideo, p.Reason())
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(lf.timeout):
		return res, fmt.Errorf("%w within %s: the camera began the playback but no video arrived", errNoVideo, lf.timeout)
	}
	var w io.Writer = io.Discard
	if file != nil {
		w = file.f
	}
	sink, err := h264sink.New(h264sink.Config{Writer: w, OnPictureLoss: h264sink.PLI(s.PC, track.SSRC()), MaxFrames: frames})
	if err != nil {
		return res, err
	}
	// The camera's end of the playback ends the run, once the last
	// frames had time to arrive.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	go func() {
		select {
		case <-p.Ended():
			select {
			case <-time.After(time.Second):
			case <-runCtx.Done():
			}
			stopRun()
		case <-runCtx.Done():
		}
	}()
	runErr := sink.Run(runCtx, track)
	st := sink.Stats()
	res.Frames, res.Keyframes, res.Bytes = st.Frames, st.Keyframes, st.Bytes
	if !st.FirstFrameAt.IsZero() {
		res.TTFFMS = ms(st.FirstFrameAt.Sub(asked))
	}
	if path, ok := s.Path(); ok {
		res.Path = path.Kind
	}
	select {
	case <-p.Ended():
		res.Ended = p.Reason()
	default:
	}
	res.DurationMS = ms(time.Since(start))
	if res.Frames == 0 {
		if runErr == nil || errors.Is(runErr, context.Canceled) {
			runErr = errNoVideo
		}
		return res, runErr
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) && !errors.Is(runErr, io.EOF) {
		return res, runErr
	}
	if file != nil {
		if err := file.commit(); err != nil {
			return res, err
		}
		res.Out = out
	}
	return res, nil
}

// discard reads a track nobody watches, so that its packets do not pile up.
func discard(t *webrtc.TrackRemote) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := t.Read(buf); err != nil {
			return
		}
	}
}

// downloadResult is camview download -json.
type downloadResult struct {
	ID     string    `json:"id,omitempty"`
	From   time.Time `json:"from,omitzero"`
	To     time.Time `json:"to,omitzero"`
	Start  time.Time `json:"start,omitzero"`
	End    time.Time `json:"end,omitzero"`
	Bytes  int64     `json:"bytes"`
	SHA256 string    `json:"sha256,omitempty"`
	MS     float64   `json:"ms"`
	Out    string    `json:"out,omitempty"`
	Error  string    `json:"error,omitempty"`
}

func cmdDownload(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("camview download", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var lf loginFlags
	lf.register(fs)
	fromFlag := fs.String("from", "", "clip from this time (RFC 3339, local 2006-01-02 15:04:05, or ago: -10m); required")
	toFlag := fs.String("to", "", "clip to this time (same forms); required")
	out := fs.String("out", "", "the MP4 file to write; required")
	asJSON := fs.Bool("json", false, "print the result as one JSON object on the last line of stdout")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	res, err := download(ctx, &lf, *fromFlag, *toFlag, *out)
	if err != nil {
		res.Error = sentence(err)
	}
	if *asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(b))
	} else if err == nil {
		fmt.Fprintf(stdout, "clip %s to %s (%s, %s) written to %s\n", local(res.Start), local(res.End), res.End.Sub(res.Start).Round(time.Second/10), size(res.Bytes), res.Out)
	}
	if err != nil {
		return fail(stderr, err)
	}
	return 0
}

func download(ctx context.Context, lf *loginFlags, fromArg, toArg, out string) (res downloadResult, err error) {
	begin := time.Now()
	if fromArg == "" || toArg == "" || out == "" {
		return res, fmt.Errorf("%w: -from, -to and -out are required", errUsage)
	}
	from, err := parseTime(fromArg, begin)
	if err != nil {
		return res, fmt.Errorf("%w: -from: %v", errUsage, err)
	}
	to, err := parseTime(toArg, begin)
	if err != nil {
		return res, fmt.Errorf("%w: -to: %v", errUsage, err)
	}
	if !from.Before(to) {
		return res, fmt.Errorf("%w: -from must be before -to", errUsage)
	}
	res.From, res.To = from.UTC(), to.UTC()
	file, err := createOut(out)
	if err != nil {
		return res, err
	}
	defer file.discard()
	s, c, err := dialPlayback(ctx, lf)
	if err != nil {
		return res, err
	}
	defer s.Close()
	res.ID = lf.id
	clip, err := c.Download(ctx, from, to, file.f)
	if err != nil {
		return res, err
	}
	if err := file.commit(); err != nil {
		return res, err
	}
	res.Start, res.End, res.Bytes, res.SHA256, res.Out = clip.Start, clip.End, clip.Size, clip.SHA256, out
	res.MS = ms(time.Since(begin))
	return res, nil
}

// outFile is an output written to a temporary file beside its name and
// renamed into place only when complete: nothing half-written is left.
type outFile struct {
	f    *os.File
	path string
	done bool
}

func createOut(path string) (*outFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.part")
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	return &outFile{f: f, path: path}, nil
}

func (o *outFile) commit() error {
	if err := o.f.Sync(); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if err := o.f.Close(); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if err := os.Rename(o.f.Name(), o.path); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	o.done = true
	return nil
}

// discard removes the temporary file unless commit succeeded.
func (o *outFile) discard() {
	if !o.done {
		o.f.Close()
		os.Remove(o.f.Name())
	}
}
