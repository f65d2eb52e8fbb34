package badgerstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// logSync makes Badger's commits durable without Badger's db.Sync.
//
// db.Sync msyncs the memtable's write-ahead log while holding the
// database lock, which every commit also takes (ensureRoomForWrite): no
// commit can be applied for the length of an fsync, so writes queue
// behind each sync instead of going into the next one. It also syncs only
// the current memtable's log, so commits that went into a memtable that
// has just been rotated out are not synced until it is flushed.
//
// Badger writes its logs through shared file mappings, and on Linux an
// fsync of the file writes those pages out just as msync does. logSync
// fdatasyncs every memtable log (*.mem) and value log (*.vlog) in the
// directories through its own descriptors, taking no Badger lock. The
// file names are Badger's (memtable.go: "%05d.mem"; value.go:
// "%06d.vlog"); a sync that finds no memtable log fails rather than
// silently syncing nothing, should a Badger upgrade rename them.
type logSync struct {
	dirs []string

	mu    sync.Mutex
	files map[string]*os.File // path → descriptor for fdatasync
}

func newLogSync(dir, valueDir string) *logSync {
	dirs := []string{dir}
	if valueDir != "" && filepath.Clean(valueDir) != filepath.Clean(dir) {
		dirs = append(dirs, valueDir)
	}
	return &logSync{dirs: dirs, files: make(map[string]*os.File)}
}

// sync makes every log write made before it was called durable. Calls
// are serialised by groupSync; the mutex only guards against Close.
func (l *logSync) sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := make(map[string]bool, len(l.files))
	memLogs := 0
	for _, dir := range l.dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("list logs: %w", err)
		}
		for _, e := range entries {
			name := e.Name()
			isMem := strings.HasSuffix(name, ".mem")
			if !isMem && !strings.HasSuffix(name, ".vlog") {
				continue
			}
			path := filepath.Join(dir, name)
			f := l.files[path]
			if f == nil {
				f, err = os.Open(path)
				if errors.Is(err, os.ErrNotExist) {
					continue // flushed and deleted since the listing: nothing left to sync
				}
				if err != nil {
					return fmt.Errorf("open log: %w", err)
				}
				l.files[path] = f
			}
			if err := unix.Fdatasync(int(f.Fd())); err != nil {
				return fmt.Errorf("sync %s: %w", path, err)
			}
			seen[path] = true
			if isMem {
				memLogs++
			}
		}
	}
	for path, f := range l.files {
		if !seen[path] {
			_ = f.Close()
			delete(l.files, path)
		}
	}
	if memLogs == 0 {
		return fmt.Errorf("no memtable log (*.mem) in %s: Badger's file layout has changed", l.dirs[0])
	}
	return nil
}

// close releases the descriptors.
func (l *logSync) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for path, f := range l.files {
		_ = f.Close()
		delete(l.files, path)
	}
}
