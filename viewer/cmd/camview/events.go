package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	wire "github.com/peercam/peercam/rendezvous/signaling/playback"
	"github.com/peercam/peercam/viewer/playback"
	"github.com/peercam/peercam/viewer/session"
)

// notice is one line of camview watch -events -json: a motion event (at its
// start, and again at its end) or a change of the recording state.
type notice struct {
	Type      string       `json:"type"` // "event" or "status"
	Event     *wire.Event  `json:"event,omitempty"`
	Recording *wire.Status `json:"recording,omitempty"`
}

// noticePrinter writes notices to w (standard output, before the result
// line): one JSON object a line with asJSON, else a sentence.
func noticePrinter(w io.Writer, asJSON bool) func(notice) {
	var mu sync.Mutex
	return func(n notice) {
		mu.Lock()
		defer mu.Unlock()
		if asJSON {
			b, _ := json.Marshal(n)
			fmt.Fprintln(w, string(b))
			return
		}
		switch {
		case n.Event != nil && n.Event.End.IsZero():
			fmt.Fprintf(w, "%s: %s event %d began\n", local(n.Event.Start), n.Event.Kind, n.Event.ID)
		case n.Event != nil:
			fmt.Fprintf(w, "%s: %s event %d ended (%s)\n", local(n.Event.End), n.Event.Kind, n.Event.ID, n.Event.End.Sub(n.Event.Start).Round(time.Second/10))
		case n.Recording != nil && n.Recording.State == "error":
			fmt.Fprintf(w, "recording stopped: %s\n", n.Recording.Error)
		case n.Recording != nil:
			fmt.Fprintf(w, "recording: %s\n", n.Recording.State)
		}
	}
}

// followNotices opens the session's playback channel and passes motion
// events and recording changes to print until stop. A camera that does not
// answer on the channel only gets a line on stderr.
func followNotices(ctx context.Context, s *session.Session, timeout time.Duration, print func(notice), stderr io.Writer) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		octx, ocancel := context.WithTimeout(ctx, timeout)
		c, err := playback.Open(octx, s.Channel, s.PC)
		ocancel()
		if err != nil {
			if ctx.Err() == nil {
				fmt.Fprintln(stderr, "camview: no motion events:", sentence(err))
			}
			return
		}
		for {
			select {
			case ev := <-c.Events():
				print(notice{Type: "event", Event: &ev})
			case st := <-c.StatusUpdates():
				print(notice{Type: "status", Recording: &st})
			case <-c.Done():
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() { cancel(); <-done }
}
