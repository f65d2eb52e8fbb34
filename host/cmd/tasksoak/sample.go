package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/internal/testplugin"
)

// sample is one reading of the host process and the load.
type sample struct {
	at         time.Duration // since the load began
	rss        int64         // VmRSS: RssAnon + RssFile + RssShmem
	rssAnon    int64
	rssFile    int64
	heap       int64 // live Go heap after a collection
	goroutines int
	fds        int // open file descriptors
	storeFDs   int // of which files of the store's directory
	created    int64
	done       int64
	alive      int // worker processes of the handlers
	processes  int // testworker processes on the machine
	spawns     uint64
	crashes    uint64
	timeouts   uint64
	kills      uint64
}

const header = "  elapsed   RSS MiB (anon  file)  heap MiB  goroutines  fds (store)   created      done  backlog  workers  spawns  crashes  timeouts  kills"

func (s sample) row() string {
	return fmt.Sprintf("%9s  %7.1f (%5.1f %5.1f)  %8.1f  %10d  %4d (%3d)  %8d  %8d  %7d  %7d  %6d  %7d  %8d  %5d",
		s.at.Round(time.Second), mib(s.rss), mib(s.rssAnon), mib(s.rssFile), mib(s.heap), s.goroutines, s.fds, s.storeFDs,
		s.created, s.done, s.created-s.done, s.alive, s.spawns, s.crashes, s.timeouts, s.kills)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// prober reads the figures of this process, the host's pools and the load.
type prober struct {
	h        *host.Host
	tally    *tally
	storeDir string
	plugin   string
}

func (p *prober) read(at time.Duration) sample {
	// A collection first, so that the heap figure is what is live, not
	// what the collector has not got round to yet.
	runtime.GC()
	s := sample{at: at, heap: liveHeap(), goroutines: runtime.NumGoroutine()}
	s.rss, s.rssAnon, s.rssFile = residentMemory()
	s.fds, s.storeFDs = openFDs(p.storeDir)
	s.created, s.done = p.tally.created.Load(), p.tally.done.Load()
	for _, hi := range p.h.Handlers() {
		s.alive += hi.Pool.Alive
		s.spawns += hi.Pool.Spawns
		s.crashes += hi.Pool.Crashes
		s.timeouts += hi.Pool.Timeouts
		s.kills += hi.Pool.Kills
	}
	s.processes = len(testplugin.Running(p.plugin))
	return s
}

// residentMemory reads VmRSS, RssAnon and RssFile from
// /proc/self/status; -1 for what cannot be read.
func residentMemory() (rss, anon, file int64) {
	rss, anon, file = -1, -1, -1
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmRSS":
			rss = kb << 10
		case "RssAnon":
			anon = kb << 10
		case "RssFile":
			file = kb << 10
		}
	}
	return
}

func liveHeap() int64 {
	m := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(m)
	if m[0].Value.Kind() != metrics.KindUint64 {
		return -1
	}
	return int64(m[0].Value.Uint64())
}

// openFDs counts the process's open file descriptors, and those on files
// under dir (the store's: Badger opens more of them as its data grows).
func openFDs(dir string) (all, under int) {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1, -1
	}
	for _, e := range entries {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue // the directory's own descriptor, closed by now
		}
		all++
		if strings.HasPrefix(target, dir+"/") {
			under++
		}
	}
	return all, under
}
