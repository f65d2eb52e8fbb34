// Package testlog captures what a host logger writes, for tests that
// check the log lines a user would read.
package testlog

import (
	"bytes"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// Buffer keeps everything a logger wrote. It is safe for concurrent use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// New returns a text-format logger at level, as taskhost serve makes
// one, and the buffer that receives its lines.
func New(level hclog.Level) (hclog.Logger, *Buffer) {
	b := &Buffer{}
	return hclog.New(&hclog.LoggerOptions{Level: level, Output: b}), b
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Lines returns the complete lines written so far.
func (b *Buffer) Lines() []string {
	b.mu.Lock()
	s := b.buf.String()
	b.mu.Unlock()
	lines := strings.SplitAfter(s, "\n")
	out := lines[:0]
	for _, l := range lines {
		if strings.HasSuffix(l, "\n") {
			out = append(out, strings.TrimSuffix(l, "\n"))
		}
	}
	return out
}

// Matching returns the lines that contain every one of parts.
func (b *Buffer) Matching(parts ...string) []string {
	var out []string
	for _, l := range b.Lines() {
		if containsAll(l, parts) {
			out = append(out, l)
		}
	}
	return out
}

// String is everything written, for failure messages.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
