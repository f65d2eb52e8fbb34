package pool

import (
	"bytes"
	"encoding/json"
	"fmt"
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

// clientLogger is the logger a worker's go-plugin Client gets. It leaves
// the plugin's raw stderr to the pool (stderrLogger), and drops go-plugin's
// exit line, which the pool replaces with one of its own (in
// Pool.watchIdleExit);
// the rest of go-plugin's lines go through.
type clientLogger struct {
	hclog.Logger
	// stderrName is the name go-plugin gives the logger of the plugin's
	// stderr: the binary's base name.
	stderrName string
}

// goPluginExitLine is the message go-plugin logs when a plugin process
// exits, at ERROR when its exit status is not 0 (also when the pool killed
// it), without saying which worker it was.
const goPluginExitLine = "plugin process exited"

func (l *clientLogger) Named(name string) hclog.Logger {
	if name == l.stderrName {
		// go-plugin skips a stderr line, after writing it to
		// ClientConfig.Stderr, when this logger's level is Off.
		return offLogger{hclog.NewNullLogger()}
	}
	return l.Logger.Named(name)
}

func (l *clientLogger) Log(level hclog.Level, msg string, args ...any) {
	if msg != goPluginExitLine {
		l.Logger.Log(level, msg, args...)
	}
}
func (l *clientLogger) Info(msg string, args ...any)  { l.Log(hclog.Info, msg, args...) }
func (l *clientLogger) Error(msg string, args ...any) { l.Log(hclog.Error, msg, args...) }

// offLogger discards, and says so: a null logger's level is NoLevel, which
// go-plugin does not take for "disabled".
type offLogger struct{ hclog.Logger }

func (offLogger) GetLevel() hclog.Level { return hclog.Off }

// lineWriter calls line with each line written to it, without its line
// ending. A line longer than maxLogLine is cut into pieces of that size.
type lineWriter struct {
	line func(string)
	mu   sync.Mutex
	buf  []byte
}

// maxLogLine bounds what a plugin can make the pool hold: go-plugin
// passes a longer stderr line on in pieces, with no line ending between
// them.
const maxLogLine = 64 << 10

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		end, next := bytes.IndexByte(w.buf, '\n'), 0
		switch {
		case end >= 0:
			next = end + 1
		case len(w.buf) >= maxLogLine:
			end, next = maxLogLine, maxLogLine
		default:
			return len(b), nil
		}
		w.line(strings.TrimRight(string(w.buf[:end]), "\r"))
		w.buf = w.buf[next:]
	}
}

// stdioLogger logs what a plugin writes to its os.Stdout or os.Stderr
// once serving (forwarded by go-plugin over gRPC), a line at a time.
func stdioLogger(log hclog.Logger, stream string, tail *stderrTail) *lineWriter {
	return &lineWriter{line: func(line string) {
		log.Info(line, "stream", stream)
		if tail != nil {
			tail.addLine(line)
		}
	}}
}

// stderrLogger logs a plugin's raw stderr, which go-plugin hands over as
// ClientConfig.Stderr: an hclog JSON line as an entry of its level and
// message, named after its @module, its other keys in the plugin's order
// (go-plugin's own parsing, into a map, shuffles them) and without its
// @timestamp (the host stamps the entry); any other line (a Go panic, a
// print before Serve) at INFO as it is, and into the tail that explains a
// crash.
func stderrLogger(log hclog.Logger, tail *stderrTail) *lineWriter {
	return &lineWriter{line: func(line string) {
		if e, ok := parseLogLine(line); ok {
			l := log
			if e.module != "" {
				l = log.Named(e.module)
			}
			l.Log(e.level, e.message, e.args...)
			return
		}
		if strings.TrimSpace(line) == "" {
			return
		}
		log.Info(line)
		tail.addLine(line)
	}}
}

// logEntry is a plugin's hclog JSON log line.
type logEntry struct {
	level   hclog.Level
	message string
	module  string
	args    []any // key, value, ... in the line's order
}

// parseLogLine reads an hclog JSON line: an object with a known @level.
// Keys are read as tokens, so that their order is kept.
func parseLogLine(line string) (logEntry, bool) {
	var e logEntry
	if !strings.HasPrefix(line, "{") {
		return e, false
	}
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber() // 64-bit ids stay exact
	if _, err := dec.Token(); err != nil {
		return e, false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return e, false
		}
		key, _ := tok.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return e, false
		}
		switch key {
		case "@level":
			s, _ := v.(string)
			e.level = hclog.LevelFromString(s)
		case "@message":
			e.message = fmt.Sprint(v)
		case "@module":
			e.module = fmt.Sprint(v)
		case "@timestamp":
		default:
			e.args = append(e.args, key, v)
		}
	}
	if _, err := dec.Token(); err != nil || dec.More() {
		return e, false
	}
	return e, e.level != hclog.NoLevel
}

// stderrTail keeps the end of a plugin's raw stderr, so that a crash can
// be explained: the lines from the last Go panic or fatal error on, or
// else the last few plain (non-JSON-log) lines.
type stderrTail struct {
	mu    sync.Mutex
	last  []string // last plain lines
	crash []string // from the last "panic:"/"fatal error:" line on
}

const (
	tailLines  = 4
	crashLines = 6
)

func (t *stderrTail) addLine(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
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
