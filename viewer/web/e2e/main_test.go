//go:build browser

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"
)

// bin holds the binaries, built once before the tests enter their network
// namespace (the build may need the module proxy; the tests need nothing
// but loopback).
var bin string

// artifacts is where screenshots are kept.
var artifacts string

const insideEnv = "PEERCAM_WEB_E2E_NETNS"

func TestMain(m *testing.M) {
	if os.Getenv(insideEnv) == "" {
		os.Exit(outside())
	}
	bin = os.Getenv("PEERCAM_WEB_E2E_BIN")
	artifacts = os.Getenv("PEERCAM_WEB_E2E_ARTIFACTS")
	if err := loopbackUp(); err != nil {
		fmt.Fprintln(os.Stderr, "web e2e: bring up lo in the test's network namespace:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// outside builds the web app and the binaries, then runs this test binary
// again in a new network namespace and returns its exit code.
func outside() int {
	root, err := filepath.Abs("../../..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "peercam-web-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	for _, args := range [][]string{
		{"run", "./viewer/web/mkweb"}, // camview embeds what this writes
		{"build", "-o", dir + "/", "./firmware/cmd/camd", "./viewer/cmd/camview", "./rendezvous/cmd/rendezvousd", "./tools/camctl"},
	} {
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "web e2e: go %v: %v\n", args, err)
			return 1
		}
	}
	art := os.Getenv("ARTIFACTS")
	if art == "" {
		art = filepath.Join(root, "viewer/web/e2e/artifacts")
	}
	if err := os.MkdirAll(art, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), insideEnv+"=1", "PEERCAM_WEB_E2E_BIN="+dir, "PEERCAM_WEB_E2E_ARTIFACTS="+art)
	attr := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if os.Getuid() != 0 {
		// Without root, a user namespace grants the network namespace.
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
	}
	cmd.SysProcAttr = attr
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "web e2e: cannot enter a network namespace of its own:", err)
		return 1
	}
	fmt.Println("web e2e: screenshots in", art)
	return 0
}

// loopbackUp sets lo up (SIOCSIFFLAGS), the one interface of a new
// network namespace.
func loopbackUp() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	var ifr struct {
		name  [syscall.IFNAMSIZ]byte
		flags uint16
		_     [22]byte
	}
	copy(ifr.name[:], "lo")
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCGIFFLAGS, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		return e
	}
	ifr.flags |= syscall.IFF_UP | syscall.IFF_RUNNING
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCSIFFLAGS, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		return e
	}
	return nil
}
