// Package camstatus is the status a running camd publishes in its state
// directory for camctl status: a small JSON file, replaced atomically.
package camstatus

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/peercam/peercam/internal/atomicfile"
)

// File is the status file's name in the state directory.
const File = "status.json"

// Status is what camd reports about itself.
type Status struct {
	ID         string    `json:"id"`
	Registered bool      `json:"registered"`
	Mode       string    `json:"mode"` // "live" or "setup"
	Viewers    int       `json:"viewers"`
	Source     string    `json:"source,omitempty"`
	LastError  string    `json:"last_error,omitempty"`
	Since      time.Time `json:"since"`
	PID        int       `json:"pid,omitempty"`
	// Recording is the recorder's state; nil when camd does not record.
	Recording *Recording `json:"recording,omitempty"`
}

// Recording is what the recorder reports (firmware/record's Status).
type Recording struct {
	Mode  string `json:"mode"`  // continuous or motion
	State string `json:"state"` // idle, recording or error
	// Error says, when State is error, why the card takes no recordings
	// (missing, read-only, full): one sentence for the owner.
	Error     string `json:"error,omitempty"`
	Segments  int    `json:"segments"`
	Events    int    `json:"events"`
	Bytes     int64  `json:"bytes"`
	FreeBytes int64  `json:"free_bytes"` // -1: unknown
}

// ErrNotRunning: no status file: camd has not run with this state.
var ErrNotRunning = errors.New("camd has not run with this state directory")

// Write replaces the status file in dir.
func Write(dir string, s Status) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, File), append(b, '\n'), 0o644)
}

// Read reads the status file in dir.
func Read(dir string) (Status, error) {
	var s Status
	b, err := os.ReadFile(filepath.Join(dir, File))
	if errors.Is(err, fs.ErrNotExist) {
		return s, ErrNotRunning
	}
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w", File, err)
	}
	return s, nil
}
