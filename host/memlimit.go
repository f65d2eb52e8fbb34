package host

import (
	"math"
	"runtime/debug"
)

// DefaultProcessMemoryLimit is the soft memory limit taskhost gives the
// Go runtime unless GOMEMLIMIT or the config says otherwise.
//
// Without jemalloc, Badger's memtables and table builders are Go heap: a
// memtable's arena, the builder of its flush and those of compactions come
// and go as tasks are written, and with GOGC's default the runtime lets
// the heap grow to twice what they hold and gives freed pages back to the
// OS only gradually. A soft limit makes it collect sooner and give pages
// back as the process nears it. What the store holds live at 1M tasks is
// 60–75 MB; above the limit the collector runs more often (at most half
// the CPU), it never fails an allocation.
const DefaultProcessMemoryLimit = 192 << 20

// SetProcessMemoryLimit gives the Go runtime a soft memory limit of limit
// bytes (0: none) unless GOMEMLIMIT is set in the environment, which the
// runtime has applied already and which wins. It returns the limit in
// effect, math.MaxInt64 for none.
func SetProcessMemoryLimit(limit int64, getenv func(string) string) int64 {
	if getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1)
	}
	if limit <= 0 {
		limit = math.MaxInt64
	}
	debug.SetMemoryLimit(limit)
	return limit
}
