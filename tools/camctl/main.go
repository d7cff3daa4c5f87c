// Command camctl manages a Peercam camera from the camera itself: its ID and
// setup code, its password, its status, and a reset to the setup code.
//
//	camctl [-state DIR | -config FILE] id [-json] [-qr]
//	camctl [-state DIR | -config FILE] passwd
//	camctl [-state DIR | -config FILE] status [-json]
//	camctl [-state DIR | -config FILE] reset [-yes]
//	camctl [-config FILE] devices [-json]
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/peercam/peercam/configs"
	"github.com/peercam/peercam/firmware/auth"
	"github.com/peercam/peercam/firmware/camstatus"
	"github.com/peercam/peercam/internal/prompt"
	"github.com/peercam/peercam/internal/qrterm"
)

const usage = `usage: camctl [-state DIR | -config FILE] COMMAND [flags]

commands:
  id      print the camera ID and whether the setup code is in force
          (-json for scripts, -qr for a QR code of the ID)
  passwd  set the camera's password (from the terminal, or stdin)
  status  print what the running camd reports (-json for scripts)
  reset   forget the password and make a new setup code; the ID stays
  devices list the cameras and encoders camd can see and what it would use
`

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "camctl:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("camctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	state := fs.String("state", "", "camera state directory (default: state_dir of -config)")
	config := fs.String("config", "/etc/peercam/camd.yaml", "camd config file, for its state_dir")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("no command given")
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	if cmd == "devices" {
		return cmdDevices(*config, rest, stdout)
	}
	dir, err := stateDir(*state, *config)
	if err != nil {
		return err
	}
	switch cmd {
	case "id":
		return cmdID(dir, rest, stdout)
	case "passwd":
		return cmdPasswd(dir, rest, stdin, stdout, stderr)
	case "status":
		return cmdStatus(dir, rest, stdout)
	case "reset":
		return cmdReset(dir, rest, stdin, stdout)
	}
	fs.Usage()
	return fmt.Errorf("unknown command %q", cmd)
}

func stateDir(state, config string) (string, error) {
	if state != "" {
		return state, nil
	}
	if _, err := os.Stat(config); err != nil {
		return configs.DefaultCamd().StateDir, nil
	}
	c, err := configs.LoadCamd(config)
	if err != nil {
		return "", err
	}
	return c.StateDir, nil
}

// openStore opens an existing camera state; camctl never creates an identity
// (camd does on first start), so a wrong -state is reported, not papered over.
func openStore(dir string) (*auth.Store, error) {
	if _, err := os.Stat(filepath.Join(dir, "identity.key")); err != nil {
		return nil, fmt.Errorf("no camera state in %s: start camd once (or give -state DIR)", dir)
	}
	return auth.OpenStore(auth.Config{Dir: dir})
}

func cmdID(dir string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("id", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print one JSON object")
	qr := fs.Bool("qr", false, "also draw the ID as a QR code")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := openStore(dir)
	if err != nil {
		return err
	}
	v, err := s.Current()
	if err != nil {
		return err
	}
	code := ""
	if v.Mode == auth.ModeSetup {
		if code, err = s.SetupCode(); err != nil {
			return err
		}
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]string{"id": s.ID().String(), "mode": string(v.Mode), "setup_code": code})
	}
	fmt.Fprintf(stdout, "Camera ID:  %s\n", s.ID())
	if code != "" {
		fmt.Fprintf(stdout, "Setup code: %s\n\nThe setup code is in force: the camera streams nothing until you set a\npassword with \"camctl passwd\" here, or from the viewer with the setup code.\n", code)
	} else {
		fmt.Fprintln(stdout, "Password:   set")
	}
	if *qr {
		fmt.Fprintln(stdout)
		return qrterm.Render(stdout, s.ID().String())
	}
	return nil
}

func cmdPasswd(dir string, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("passwd", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := openStore(dir)
	if err != nil {
		return err
	}
	pw, err := prompt.NewPassword(stdin, stderr)
	if err != nil {
		return err
	}
	if err := s.SetPassword(pw); err != nil {
		return fmt.Errorf("password not changed: %w", err)
	}
	fmt.Fprintln(stdout, "Password set. Viewers log in with it from now on; the setup code no longer works.")
	return nil
}

func cmdStatus(dir string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := fs.Parse(args); err != nil {
		return err
	}
	st, err := camstatus.Read(dir)
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(st)
	}
	reg := "no"
	if st.Registered {
		reg = "yes"
	}
	fmt.Fprintf(stdout, "Camera ID:   %s\nRegistered:  %s (since %s)\nMode:        %s\nViewers:     %d\n", st.ID, reg, st.Since.Format("2006-01-02 15:04:05"), st.Mode, st.Viewers)
	if st.LastError != "" {
		fmt.Fprintf(stdout, "Last error:  %s\n", st.LastError)
	}
	if r := st.Recording; r != nil {
		if r.State == "error" {
			fmt.Fprintf(stdout, "Recording:   %s, stopped: %s\n", r.Mode, r.Error)
		} else {
			fmt.Fprintf(stdout, "Recording:   %s, %s (%d segments, %d events, %.1f MB)\n", r.Mode, r.State, r.Segments, r.Events, float64(r.Bytes)/(1<<20))
		}
	}
	return nil
}

func cmdReset(dir string, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("reset", flag.ContinueOnError)
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := openStore(dir)
	if err != nil {
		return err
	}
	if !*yes {
		fmt.Fprint(stdout, "Forget the password and make a new setup code? Viewers must log in again. [y/N] ")
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return errors.New("nothing changed")
		}
	}
	if err := s.Reset(); err != nil {
		return err
	}
	code, err := s.SetupCode()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Reset. Camera ID %s, new setup code %s.\n", s.ID(), code)
	return nil
}
