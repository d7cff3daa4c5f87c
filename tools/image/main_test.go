package main

import (
	"bufio"
	"crypto/pbkdf2"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets the test binary stand in for two programs:
//
//   - PEERCAM_STDIO_RELAY=ADDR: the relay behind qemu's guestfwd in the
//     image test; qemu runs this binary for each connection the guest
//     opens to the rendezvous, the connection on standard input and output.
//   - run as "wpa_passphrase" (a link to this binary, setup_test.go):
//     wpa_supplicant's tool as peercam-setup calls it, the SSID as the
//     argument and the passphrase on standard input, for machines without
//     wpasupplicant. The image test uses the real one, inside the image.
func TestMain(m *testing.M) {
	if addr := os.Getenv("PEERCAM_STDIO_RELAY"); addr != "" {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			os.Exit(1)
		}
		go func() { io.Copy(c, os.Stdin); c.(*net.TCPConn).CloseWrite() }()
		io.Copy(os.Stdout, c)
		os.Exit(0)
	}
	if filepath.Base(os.Args[0]) == "wpa_passphrase" {
		os.Exit(wpaPassphrase(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// wpaPassphrase prints a network block with the WPA-PSK key, as
// wpa_passphrase does, or refuses a passphrase that is not 8 to 63
// characters.
func wpaPassphrase(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: wpa_passphrase <ssid> < passphrase")
		return 1
	}
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return 1
	}
	pass := strings.TrimSuffix(line, "\n")
	if len(pass) < 8 || len(pass) > 63 {
		fmt.Println("Passphrase must be 8..63 characters")
		return 1
	}
	psk, err := pbkdf2.Key(sha1.New, pass, []byte(args[0]), 4096, 32)
	if err != nil {
		return 1
	}
	fmt.Printf("network={\n\tssid=\"%s\"\n\t#psk=\"%s\"\n\tpsk=%s\n}\n", args[0], pass, hex.EncodeToString(psk))
	return 0
}
