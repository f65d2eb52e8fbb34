package pool

import (
	"bytes"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// pidLogger adds the worker's pid, known only once go-plugin has started
// the process, to every line go-plugin logs for it (its own and the
// plugin's stderr).
type pidLogger struct {
	hclog.Logger
	pid *atomic.Int64
}

func (l *pidLogger) args(args []any) []any {
	if pid := l.pid.Load(); pid != 0 {
		return append(args, "pid", pid)
	}
	return args
}

func (l *pidLogger) Log(level hclog.Level, msg string, args ...any) {
	l.Logger.Log(level, msg, l.args(args)...)
}
func (l *pidLogger) Trace(msg string, args ...any) { l.Logger.Trace(msg, l.args(args)...) }
func (l *pidLogger) Debug(msg string, args ...any) { l.Logger.Debug(msg, l.args(args)...) }
func (l *pidLogger) Info(msg string, args ...any)  { l.Logger.Info(msg, l.args(args)...) }
func (l *pidLogger) Warn(msg string, args ...any)  { l.Logger.Warn(msg, l.args(args)...) }
func (l *pidLogger) Error(msg string, args ...any) { l.Logger.Error(msg, l.args(args)...) }
func (l *pidLogger) Named(name string) hclog.Logger {
	return &pidLogger{Logger: l.Logger.Named(name), pid: l.pid}
}
func (l *pidLogger) ResetNamed(name string) hclog.Logger {
	return &pidLogger{Logger: l.Logger.ResetNamed(name), pid: l.pid}
}
func (l *pidLogger) With(args ...any) hclog.Logger {
	return &pidLogger{Logger: l.Logger.With(args...), pid: l.pid}
}

// lineLogger logs what a plugin writes to its os.Stdout or os.Stderr
// (forwarded by go-plugin over gRPC), a line at a time.
type lineLogger struct {
	log    hclog.Logger
	stream string
	tail   *stderrTail // also fed, when set
	mu     sync.Mutex
	buf    []byte
}

func (l *lineLogger) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.log.Info(string(l.buf[:i]), "stream", l.stream)
		if l.tail != nil {
			l.tail.addLine(string(l.buf[:i]))
		}
		l.buf = l.buf[i+1:]
	}
	return len(b), nil
}

// stderrTail keeps the end of a plugin's raw stderr, so that a crash can
// be explained: the lines from the last Go panic or fatal error on, or
// else the last few plain (non-JSON-log) lines.
type stderrTail struct {
	mu      sync.Mutex
	partial []byte
	last    []string // last plain lines
	crash   []string // from the last "panic:"/"fatal error:" line on
}

const (
	tailLines  = 4
	crashLines = 6
)

// Write receives go-plugin's copy of stderr: whole lines, newline
// separately.
func (t *stderrTail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.partial = append(t.partial, b...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		t.add(strings.TrimRight(string(t.partial[:i]), "\r"))
		t.partial = t.partial[i+1:]
	}
	return len(b), nil
}

func (t *stderrTail) addLine(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.add(line)
}

func (t *stderrTail) add(line string) {
	if strings.HasPrefix(line, "{") || strings.TrimSpace(line) == "" {
		return // hclog JSON lines are logged, not evidence
	}
	if strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ") {
		t.crash = []string{line}
		return
	}
	if t.crash != nil && len(t.crash) < crashLines {
		t.crash = append(t.crash, line)
	}
	t.last = append(t.last, line)
	if len(t.last) > tailLines {
		t.last = t.last[1:]
	}
}

// suffix is "; stderr: ..." or "" when there is nothing to show.
func (t *stderrTail) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := t.crash
	if lines == nil {
		lines = t.last
	}
	if len(lines) == 0 {
		return ""
	}
	return "; stderr: " + strings.Join(lines, " | ")
}
