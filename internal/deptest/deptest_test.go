// Package deptest guards the architecture: what each binary may link.
package deptest

import (
	"os/exec"
	"strings"
	"testing"
)

func deps(t *testing.T, pkg string, env ...string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", pkg)
	cmd.Dir = "../.."
	cmd.Env = append(cmd.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
	}
	return strings.Fields(string(out))
}

const mod = "github.com/peercam/peercam/"

func TestBinariesKeepToTheirPart(t *testing.T) {
	for _, tc := range []struct {
		main      string
		forbidden []string
	}{
		// The camera never links the rendezvous server or the viewer.
		{mod + "firmware/cmd/camd", []string{mod + "rendezvous/server", mod + "rendezvous/stunturn", mod + "viewer/"}},
		{mod + "tools/camctl", []string{mod + "rendezvous/server", mod + "viewer/", "github.com/pion/webrtc", "periph.io/x/host"}},
		// The viewer never links the camera's secrets or the server.
		{mod + "viewer/cmd/camview", []string{mod + "firmware/", mod + "rendezvous/server", mod + "rendezvous/stunturn", "periph.io/x/"}},
		// The untrusted server links neither end of a login.
		{mod + "rendezvous/cmd/rendezvousd", []string{mod + "firmware/", mod + "viewer/", "github.com/pion/webrtc", "periph.io/x/"}},
		// The protocol package stays small.
		{mod + "rendezvous/signaling", []string{"github.com/pion/", mod + "firmware/", mod + "viewer/", mod + "internal/"}},
	} {
		for _, d := range deps(t, tc.main) {
			for _, f := range tc.forbidden {
				if strings.HasPrefix(d, f) {
					t.Errorf("%s imports %s", strings.TrimPrefix(tc.main, mod), d)
				}
			}
		}
	}
}

// The ARMv6 camera build has no cgo, so no openh264: it must still build.
func TestCamdBuildsWithoutCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("cross build")
	}
	cmd := exec.Command("go", "build", "-o", t.TempDir()+"/camd", "./firmware/cmd/camd")
	cmd.Dir = "../.."
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm", "GOARM=6")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOARM=6 CGO_ENABLED=0 build of camd: %v\n%s", err, out)
	}
}
