package badgerstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

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
//
// Only values of at least Badger's value threshold go to the value log,
// and an fdatasync costs a device flush even on a clean file (~70 µs
// here, a quarter of a sync). So a value log already synced once is
// synced again only when valueLogWritten was called since the last sync
// looked: the store calls it before committing a transaction that sets
// such a value, and after each value-log GC.
//
// Order matters. Badger writes a value to the value log before the
// pointer to it goes into the memtable log, so a sync takes the memtable
// logs first, then reads the flag, then takes the value logs: a pointer
// that the first step made durable belongs to a write that set the flag
// before it (the store marks before committing), and whose value was
// written before it; the third step makes that value durable too. (A
// commit that is in no sync's epoch, a claim, may otherwise have its
// pointer but not its value on disk after a power loss.)
type logSync struct {
	dirs []string
	// vlogDirty: a value log may have been written since the last sync
	// read this flag.
	vlogDirty atomic.Bool
	vlogSyncs atomic.Int64 // value-log fdatasyncs, for tests

	mu    sync.Mutex
	files map[string]*os.File // path → descriptor for fdatasync
}

func newLogSync(dir, valueDir string) *logSync {
	dirs := []string{dir}
	if valueDir != "" && filepath.Clean(valueDir) != filepath.Clean(dir) {
		dirs = append(dirs, valueDir)
	}
	l := &logSync{dirs: dirs, files: make(map[string]*os.File)}
	l.vlogDirty.Store(true)
	return l
}

// valueLogWritten says that a value log may be about to hold, or hold,
// writes not yet synced.
func (l *logSync) valueLogWritten() { l.vlogDirty.Store(true) }

// sync makes every log write made before it was called durable. Calls
// are serialised by groupSync; the mutex only guards against Close.
func (l *logSync) sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var mems, vlogs []string
	for _, dir := range l.dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("list logs: %w", err)
		}
		for _, e := range entries {
			switch name := e.Name(); {
			case strings.HasSuffix(name, ".mem"):
				mems = append(mems, filepath.Join(dir, name))
			case strings.HasSuffix(name, ".vlog"):
				vlogs = append(vlogs, filepath.Join(dir, name))
			}
		}
	}
	if len(mems) == 0 {
		return fmt.Errorf("no memtable log (*.mem) in %s: Badger's file layout has changed", l.dirs[0])
	}
	seen := make(map[string]bool, len(mems)+len(vlogs))
	for _, path := range mems {
		if err := l.syncFile(path, seen); err != nil {
			return err
		}
	}
	dirty := l.vlogDirty.Swap(false)
	for _, path := range vlogs {
		if l.files[path] != nil && !dirty {
			seen[path] = true // synced before, and nothing written since
			continue
		}
		if err := l.syncFile(path, seen); err != nil {
			l.vlogDirty.Store(true)
			return err
		}
		l.vlogSyncs.Add(1)
	}
	for path, f := range l.files {
		if !seen[path] {
			_ = f.Close()
			delete(l.files, path)
		}
	}
	return nil
}

// syncFile fdatasyncs path through a descriptor kept open for it, and
// records it in seen; a file deleted since the listing is skipped (a
// flushed memtable's log: nothing left to sync).
func (l *logSync) syncFile(path string, seen map[string]bool) error {
	f := l.files[path]
	if f == nil {
		var err error
		f, err = os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil
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
