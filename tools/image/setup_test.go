package main

import (
	"crypto/pbkdf2"
	"crypto/sha1"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// setupRoot is a directory laid out as the image's root for
// files/peercam-setup (PEERCAM_SETUP_ROOT), with the settings file on its
// boot partition.
type setupRoot struct {
	t    *testing.T
	dir  string
	path string // PATH with the stand-in wpa_passphrase first
}

const setupYAML = "# camd\nrendezvous: \"ws://127.0.0.1:8080\"\nsource: auto\n"

func newSetupRoot(t *testing.T, settings string) *setupRoot {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Fatal("no sh")
	}
	dir := t.TempDir()
	for path, content := range map[string]string{
		"usr/share/peercam-image/peercam-setup.txt": mustRead("files/peercam-setup.txt"),
		"boot/firmware/peercam-setup.txt":           settings,
		"etc/peercam/camd.yaml":                     setupYAML,
		"etc/hostname":                              "peercam\n",
		"etc/hosts":                                 "127.0.0.1\tlocalhost\n127.0.1.1\tpeercam\n",
	} {
		if err := writeFile(filepath.Join(dir, path), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "test-bin")
	os.Mkdir(bin, 0o755)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(bin, "wpa_passphrase")); err != nil {
		t.Fatal(err)
	}
	return &setupRoot{t: t, dir: dir, path: bin + string(os.PathListSeparator) + os.Getenv("PATH")}
}

// run runs peercam-setup on the root and returns what it printed.
func (r *setupRoot) run() string {
	r.t.Helper()
	script := filepath.Join(r.dir, "test-bin", "peercam-setup")
	if err := os.WriteFile(script, []byte(mustRead("files/peercam-setup")), 0o755); err != nil {
		r.t.Fatal(err)
	}
	cmd := exec.Command("sh", script)
	cmd.Env = []string{"PATH=" + r.path, "PEERCAM_SETUP_ROOT=" + r.dir, "LC_ALL=C"}
	cmd.Dir = r.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("peercam-setup: %v\n%s", err, out)
	}
	return string(out)
}

func (r *setupRoot) read(path string) string {
	r.t.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, path))
	if err != nil {
		r.t.Fatal(err)
	}
	return string(b)
}

func (r *setupRoot) exists(path string) bool {
	_, err := os.Lstat(filepath.Join(r.dir, path))
	return err == nil
}

func psk(t *testing.T, ssid, pass string) string {
	t.Helper()
	k, err := pbkdf2.Key(sha1.New, pass, []byte(ssid), 4096, 32)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(k)
}

const (
	keyA = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefgh a@laptop"
	keyB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHgFeDcBa9876543210zYxWvUtSrQpOnMlKjIhGfEdCb b@phone"
)

// TestSetupApplies: a settings file as Windows' Notepad saves it (CRLF,
// no newline at the end) is applied whole, and the card keeps only the
// blank template.
func TestSetupApplies(t *testing.T) {
	settings := strings.Join([]string{
		"# mine", "wifi_country=DE", "wifi_ssid=Müller's Wi-Fi", "wifi_password=  spaces kept, \"quotes\" too ",
		"ssh_authorized_key=" + keyA, "ssh_authorized_key=" + keyB,
		"rendezvous=wss://rv.example.net:8443/v1?region=eu&x=1", "hostname=door-cam", "colour=blue", "no equals sign",
	}, "\r\n")
	r := newSetupRoot(t, settings)
	out := r.run()
	for _, want := range []string{
		`Wi-Fi network "Müller's Wi-Fi" set up for wlan0 (country DE)`, "SSH key(s) added for root: 2",
		"rendezvous set to wss://rv.example.net:8443/v1?region=eu&x=1", "host name set to door-cam",
		`ignoring unknown setting "colour"`, "ignoring a line without '=' in peercam-setup.txt",
	} {
		if !strings.Contains(out, "peercam-setup: "+want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	conf := r.read("etc/wpa_supplicant/wpa_supplicant-wlan0.conf")
	for _, want := range []string{"\ncountry=DE\n", "\n\tssid=" + hex.EncodeToString([]byte("Müller's Wi-Fi")) + "\n",
		"\n\tkey_mgmt=WPA-PSK\n", "\n\tpsk=" + psk(t, "Müller's Wi-Fi", `  spaces kept, "quotes" too `) + "\n"} {
		if !strings.Contains(conf, want) {
			t.Errorf("wpa_supplicant-wlan0.conf lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(conf, "quotes") {
		t.Errorf("the Wi-Fi password is in wpa_supplicant-wlan0.conf:\n%s", conf)
	}
	if fi, _ := os.Stat(filepath.Join(r.dir, "etc/wpa_supplicant/wpa_supplicant-wlan0.conf")); fi.Mode().Perm() != 0o600 {
		t.Errorf("wpa_supplicant-wlan0.conf mode %v", fi.Mode().Perm())
	}
	if got := r.read("root/.ssh/authorized_keys"); got != keyA+"\n"+keyB+"\n" {
		t.Errorf("authorized_keys:\n%s", got)
	}
	if y := r.read("etc/peercam/camd.yaml"); y != strings.Replace(setupYAML, "ws://127.0.0.1:8080", "wss://rv.example.net:8443/v1?region=eu&x=1", 1) {
		t.Errorf("camd.yaml:\n%s", y)
	}
	if h := r.read("etc/hostname"); h != "door-cam\n" {
		t.Errorf("hostname %q", h)
	}
	if h := r.read("etc/hosts"); !strings.Contains(h, "\n127.0.1.1\tdoor-cam\n") {
		t.Errorf("hosts:\n%s", h)
	}
	if got := r.read("boot/firmware/peercam-setup.txt"); got != mustRead("files/peercam-setup.txt") {
		t.Errorf("the card still holds:\n%s", got)
	}
	if r.exists("boot/firmware/peercam-setup.txt.tmp") || r.exists("etc/wpa_supplicant/wpa_supplicant-wlan0.conf.tmp") {
		t.Error("a temporary file was left behind")
	}

	// The same keys again (the user put the card back with them still
	// filled in): no duplicates. The blank template changes nothing.
	writeFile(filepath.Join(r.dir, "boot/firmware/peercam-setup.txt"), []byte("ssh_authorized_key="+keyB+"\n"), 0o644)
	r.run()
	if got := r.read("root/.ssh/authorized_keys"); got != keyA+"\n"+keyB+"\n" {
		t.Errorf("authorized_keys after the same key again:\n%s", got)
	}
	r.run()
	if got := r.read("etc/peercam/camd.yaml"); !strings.Contains(got, "rv.example.net") {
		t.Errorf("the blank template changed camd.yaml:\n%s", got)
	}
}

// TestSetupRefuses: settings that are wrong are refused one by one with a
// sentence, change nothing, and run nothing.
func TestSetupRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, settings, says string
		unchanged            []string // files that must keep their content
		absent               []string // files that must not appear
	}{
		{"country lower case", "wifi_country=gb\nwifi_ssid=home\nwifi_password=long enough pass\n",
			"wifi_country must be two capital letters (e.g. GB): Wi-Fi not set up", nil, []string{"etc/wpa_supplicant/wpa_supplicant-wlan0.conf"}},
		{"no country", "wifi_ssid=home\nwifi_password=long enough pass\n",
			"wifi_country must be two capital letters", nil, []string{"etc/wpa_supplicant/wpa_supplicant-wlan0.conf"}},
		{"SSID over 32 bytes", "wifi_country=GB\nwifi_ssid=" + strings.Repeat("ü", 17) + "\nwifi_password=long enough pass\n",
			"the Wi-Fi network name (wifi_ssid) has more than 32 bytes: Wi-Fi not set up", nil, []string{"etc/wpa_supplicant/wpa_supplicant-wlan0.conf"}},
		{"password too short", "wifi_country=GB\nwifi_ssid=home\nwifi_password=seven77\n",
			"the Wi-Fi password must have 8 to 63 characters: Wi-Fi not set up", nil, []string{"etc/wpa_supplicant/wpa_supplicant-wlan0.conf"}},
		{"password too long", "wifi_country=GB\nwifi_ssid=home\nwifi_password=" + strings.Repeat("x", 64) + "\n",
			"the Wi-Fi password must have 8 to 63 characters", nil, []string{"etc/wpa_supplicant/wpa_supplicant-wlan0.conf"}},
		{"not a websocket URL", "rendezvous=https://rv.example.net\n",
			"the rendezvous URL must start with ws:// or wss://: not set", []string{"etc/peercam/camd.yaml"}, nil},
		{"URL breaking out of sed and YAML", "rendezvous=wss://x\"|;touch PWNED;#\n",
			"the rendezvous URL has characters a URL does not: not set", []string{"etc/peercam/camd.yaml"}, []string{"PWNED", "test-bin/PWNED"}},
		{"URL with a newline escape", "rendezvous=wss://x\\nsource: testpattern\n",
			"the rendezvous URL has characters a URL does not", []string{"etc/peercam/camd.yaml"}, nil},
		{"host name with a space", "hostname=front door\n",
			`"front door" is not a host name: not set`, []string{"etc/hostname", "etc/hosts"}, nil},
		{"host name starting with a dash", "hostname=-cam\n",
			`"-cam" is not a host name`, []string{"etc/hostname", "etc/hosts"}, nil},
		{"host name too long", "hostname=" + strings.Repeat("a", 64) + "\n",
			"is not a host name", []string{"etc/hostname", "etc/hosts"}, nil},
		{"command substitution in the SSID", "wifi_country=GB\nwifi_ssid=$(touch PWNED)`touch PWNED`\nwifi_password=long enough pass\n",
			`Wi-Fi network "$(touch PWNED)` + "`touch PWNED`" + `" set up`, nil, []string{"PWNED", "test-bin/PWNED"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newSetupRoot(t, tc.settings)
			before := map[string]string{}
			for _, f := range tc.unchanged {
				before[f] = r.read(f)
			}
			out := r.run()
			if !strings.Contains(out, tc.says) {
				t.Errorf("output lacks %q:\n%s", tc.says, out)
			}
			for _, f := range tc.unchanged {
				if got := r.read(f); got != before[f] {
					t.Errorf("%s changed:\n%s", f, got)
				}
			}
			for _, f := range tc.absent {
				if r.exists(f) {
					t.Errorf("%s exists", f)
				}
			}
			if got := r.read("boot/firmware/peercam-setup.txt"); got != mustRead("files/peercam-setup.txt") {
				t.Errorf("the card still holds the settings:\n%s", got)
			}
		})
	}
}

// TestSetupOpenNetwork: an SSID without a password is an open network.
func TestSetupOpenNetwork(t *testing.T) {
	r := newSetupRoot(t, "wifi_country=FR\nwifi_ssid=Café\n")
	if out := r.run(); !strings.Contains(out, `Wi-Fi network "Café" set up for wlan0 (country FR)`) {
		t.Errorf("output:\n%s", out)
	}
	conf := r.read("etc/wpa_supplicant/wpa_supplicant-wlan0.conf")
	if !strings.Contains(conf, "\n\tkey_mgmt=NONE\n") || strings.Contains(conf, "psk=") || !strings.Contains(conf, "\n\tssid="+hex.EncodeToString([]byte("Café"))+"\n") {
		t.Errorf("wpa_supplicant-wlan0.conf:\n%s", conf)
	}
}

// TestSetupNoFile: without the settings file peercam-setup does nothing
// and succeeds.
func TestSetupNoFile(t *testing.T) {
	r := newSetupRoot(t, "")
	os.Remove(filepath.Join(r.dir, "boot/firmware/peercam-setup.txt"))
	if out := r.run(); out != "" {
		t.Errorf("output %q", out)
	}
	if r.exists("boot/firmware/peercam-setup.txt") || r.read("etc/peercam/camd.yaml") != setupYAML {
		t.Error("something changed")
	}
}
