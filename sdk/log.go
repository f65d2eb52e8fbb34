package sdk

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// jsonLogger is the logger of a plugin: one JSON line per entry, in the
// shape of hclog's JSON format, which the host reads (@timestamp, @level,
// @message, @module), but with the arguments in the order the plugin gave
// them. hclog's own JSON output sorts them, so a host's log line would not
// read as it was written. log/slog's JSON handler writes the line.
type jsonLogger struct {
	handler slog.Handler // shared by the loggers derived from one, with its lock
	name    string
	implied []any
	level   *atomic.Int32 // an hclog.Level, shared with derived loggers
}

var _ hclog.Logger = (*jsonLogger)(nil)

// hclog's levels, as slog levels: slog's Debug is -4 and Info 0.
var slogLevels = map[hclog.Level]slog.Level{
	hclog.Trace: slog.LevelDebug - 4,
	hclog.Debug: slog.LevelDebug,
	hclog.Info:  slog.LevelInfo,
	hclog.Warn:  slog.LevelWarn,
	hclog.Error: slog.LevelError,
}

func newJSONLogger(w io.Writer, level hclog.Level) *jsonLogger {
	names := make(map[slog.Level]string, len(slogLevels))
	for hl, sl := range slogLevels {
		names[sl] = hl.String()
	}
	l := &jsonLogger{level: new(atomic.Int32)}
	l.level.Store(int32(level))
	l.handler = slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: slogLevels[hclog.Trace],
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				// hclog's own timestamp format.
				return slog.String("@timestamp", a.Value.Time().Format("2006-01-02T15:04:05.000000Z07:00"))
			case slog.LevelKey:
				return slog.String("@level", names[a.Value.Any().(slog.Level)])
			case slog.MessageKey:
				return slog.String("@message", a.Value.String())
			}
			return a
		},
	})
	return l
}

func (l *jsonLogger) Log(level hclog.Level, msg string, args ...any) {
	sl, ok := slogLevels[level]
	if !ok || level < hclog.Level(l.level.Load()) {
		return
	}
	r := slog.NewRecord(time.Now(), sl, msg, 0)
	if l.name != "" {
		r.AddAttrs(slog.String("@module", l.name))
	}
	r.Add(l.implied...)
	r.Add(args...)
	_ = l.handler.Handle(context.Background(), r)
}

func (l *jsonLogger) Trace(msg string, args ...any) { l.Log(hclog.Trace, msg, args...) }
func (l *jsonLogger) Debug(msg string, args ...any) { l.Log(hclog.Debug, msg, args...) }
func (l *jsonLogger) Info(msg string, args ...any)  { l.Log(hclog.Info, msg, args...) }
func (l *jsonLogger) Warn(msg string, args ...any)  { l.Log(hclog.Warn, msg, args...) }
func (l *jsonLogger) Error(msg string, args ...any) { l.Log(hclog.Error, msg, args...) }

func (l *jsonLogger) IsTrace() bool { return l.enabled(hclog.Trace) }
func (l *jsonLogger) IsDebug() bool { return l.enabled(hclog.Debug) }
func (l *jsonLogger) IsInfo() bool  { return l.enabled(hclog.Info) }
func (l *jsonLogger) IsWarn() bool  { return l.enabled(hclog.Warn) }
func (l *jsonLogger) IsError() bool { return l.enabled(hclog.Error) }

func (l *jsonLogger) enabled(level hclog.Level) bool { return level >= hclog.Level(l.level.Load()) }

func (l *jsonLogger) ImpliedArgs() []any { return l.implied }

func (l *jsonLogger) With(args ...any) hclog.Logger {
	c := *l
	c.implied = append(append([]any(nil), l.implied...), args...)
	return &c
}

func (l *jsonLogger) Name() string { return l.name }

func (l *jsonLogger) Named(name string) hclog.Logger {
	if l.name != "" {
		name = l.name + "." + name
	}
	return l.ResetNamed(name)
}

func (l *jsonLogger) ResetNamed(name string) hclog.Logger {
	c := *l
	c.name = name
	return &c
}

func (l *jsonLogger) SetLevel(level hclog.Level) { l.level.Store(int32(level)) }
func (l *jsonLogger) GetLevel() hclog.Level      { return hclog.Level(l.level.Load()) }

func (l *jsonLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(l.StandardWriter(opts), "", 0)
}

// StandardWriter logs each line written to it at Info, or with
// InferLevels at the level its "[DEBUG]"-style prefix names.
func (l *jsonLogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	infer := opts != nil && opts.InferLevels
	return writerFunc(func(b []byte) (int, error) {
		for line := range strings.SplitSeq(string(bytes.TrimRight(b, "\n")), "\n") {
			level := hclog.Info
			if infer {
				for _, hl := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
					prefix := "[" + strings.ToUpper(hl.String()) + "]"
					if rest, ok := strings.CutPrefix(line, prefix); ok {
						level, line = hl, strings.TrimSpace(rest)
						break
					}
				}
			}
			l.Log(level, line)
		}
		return len(b), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
