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
