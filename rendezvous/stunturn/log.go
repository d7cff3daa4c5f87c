package stunturn

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/pion/logging"
)

// levelTrace is below slog.LevelDebug, for pion's trace messages.
const levelTrace = slog.LevelDebug - 4

// loggerFactory hands pion an slog.Logger that falls silent once muted is
// set, so that nothing is logged after Server.Close returns (pion's read
// loop still logs on its way out).
type loggerFactory struct {
	l     *slog.Logger
	muted *atomic.Bool
}

func (f loggerFactory) NewLogger(scope string) logging.LeveledLogger {
	return leveledLogger{f.l.With("scope", scope), f.muted}
}

// leveledLogger is pion's logging.LeveledLogger on top of slog.
type leveledLogger struct {
	l     *slog.Logger
	muted *atomic.Bool
}

func (l leveledLogger) enabled(level slog.Level) bool {
	return !l.muted.Load() && l.l.Enabled(context.Background(), level)
}

func (l leveledLogger) log(level slog.Level, msg string) {
	if l.enabled(level) {
		l.l.Log(context.Background(), level, msg)
	}
}

func (l leveledLogger) logf(level slog.Level, format string, args ...any) {
	if l.enabled(level) {
		l.l.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

func (l leveledLogger) Trace(msg string)                  { l.log(levelTrace, msg) }
func (l leveledLogger) Tracef(format string, args ...any) { l.logf(levelTrace, format, args...) }
func (l leveledLogger) Debug(msg string)                  { l.log(slog.LevelDebug, msg) }
func (l leveledLogger) Debugf(format string, args ...any) { l.logf(slog.LevelDebug, format, args...) }
func (l leveledLogger) Info(msg string)                   { l.log(slog.LevelInfo, msg) }
func (l leveledLogger) Infof(format string, args ...any)  { l.logf(slog.LevelInfo, format, args...) }
func (l leveledLogger) Warn(msg string)                   { l.log(slog.LevelWarn, msg) }
func (l leveledLogger) Warnf(format string, args ...any)  { l.logf(slog.LevelWarn, format, args...) }
func (l leveledLogger) Error(msg string)                  { l.log(slog.LevelError, msg) }
func (l leveledLogger) Errorf(format string, args ...any) { l.logf(slog.LevelError, format, args...) }
