package lab

import (
	"context"
	"errors"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var labName = regexp.MustCompile(`^` + NamePrefix + `(\d+)-\d+-[a-z]+$`)

// Clean removes the namespaces of labs whose process has exited (all of the
// lab's namespaces when all is true, which would break labs running now),
// after killing the processes left inside them. It returns the names
// removed. Namespaces of other software are never touched: only names of
// the form pcl-<pid>-<n>-<role>.
func Clean(ctx context.Context, all bool) ([]string, error) {
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	out, err := command(ctx, nil, "ip", "netns", "list")
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		name := f[0]
		m := labName.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if !all && alive(pid) {
			continue
		}
		if pids, err := command(ctx, nil, "ip", "netns", "pids", name); err == nil {
			for _, p := range strings.Fields(pids) {
				if n, err := strconv.Atoi(p); err == nil {
					syscall.Kill(n, syscall.SIGKILL)
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err := delNetns(name); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, name)
	}
	return removed, errors.Join(errs...)
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
