package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/cmd/taskbench/internal/measure"
	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/host/store/badgerstore"
	"github.com/taskhost/taskhost/shared"
)

// The scale data set: cfg.scalePending pending tasks of scaleRunType (the
// type whose dispatcher the first-dispatch figure times), and the rest
// spread over five types and every status.

const scaleRunType = "scale-a"

func scaleTypes() []string { return []string{"scale-a", "scale-b", "scale-c", "scale-d", "scale-e"} }

// scaleBadgerProcessing is how many processing tasks the Badger store's
// data set holds, the rest of scaleStatus's processing share being
// successes. A Badger store belongs to one host, whose processing tasks
// are those it runs (256 at concurrency 32 on 8 workers): its queries
// without a status filter read every processing task (badgerstore keeps
// them in no query index), about half a microsecond each. PostgreSQL's data set keeps
// the whole share: a cluster's nodes run that many together, and its
// indexes hold them.
const scaleBadgerProcessing = 1000

// scaleStatus is the status of the i-th task of the mixed part: of every
// 20, 4 pending, 1 processing, 10 success, 3 failed, 2 cancelled.
func scaleStatus(i int) shared.Status {
	switch k := (i / 5) % 20; {
	case k < 4:
		return shared.StatusPending
	case k < 5:
		return shared.StatusProcessing
	case k < 15:
		return shared.StatusSuccess
	case k < 18:
		return shared.StatusFailed
	}
	return shared.StatusCancelled
}

const scalePayload = `{"image":"https://example.com/a.png","width":640,"height":480}`

// mixedRecord is the i-th of n tasks of the mixed part, created over the
// 30 days before t0. Pending tasks of scaleRunType become successes, so
// that the pending ones of that type are exactly the host-created ones.
// Processing tasks belong to another node, so a Start here does not
// recover them; with maxProcessing above 0, only that many of them, spread
// over the whole span, are processing, the others successes.
func mixedRecord(i, n, maxProcessing int, t0 time.Time) (*store.Record, error) {
	u, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	typ := scaleTypes()[i%5]
	status := scaleStatus(i)
	if typ == scaleRunType && status == shared.StatusPending {
		status = shared.StatusSuccess
	}
	if status == shared.StatusProcessing && maxProcessing > 0 {
		// The ordinal of this processing task: 5 of every 100, 20–24.
		nth, stride := i/100*5+i%100-20, max(n/20/maxProcessing, 1)
		if nth%stride != 0 || nth/stride >= maxProcessing {
			status = shared.StatusSuccess
		}
	}
	const span = 30 * 24 * time.Hour
	created := t0.Add(-span + time.Duration(int64(span)/int64(n)*int64(i))).Truncate(time.Millisecond)
	modified := created.Add(time.Duration(i%1000) * time.Second)
	r := &store.Record{Task: shared.Task{
		ID: hex.EncodeToString(u[:]), Type: typ, ThreadID: "main", Status: status,
		DateCreated: created, DateModified: modified, Payload: json.RawMessage(scalePayload),
	}}
	switch status {
	case shared.StatusPending:
		r.DateModified = created
	case shared.StatusProcessing:
		r.Attempts = 1
		r.LeaseOwner = "node-2"
		r.LeaseUntil = modified.Add(24 * time.Hour)
	default:
		r.Attempts = 1
		done := modified
		r.DateCompleted = &done
		retain := int64(-1)
		if i%2 == 0 {
			retain = int64(60 * 24 * time.Hour / time.Millisecond)
			until := modified.Add(60 * 24 * time.Hour)
			r.DateRetainUntil = &until
		}
		r.RetainFor = &retain
		switch status {
		case shared.StatusSuccess:
			r.Result = []byte(`{"ok":true}`)
		case shared.StatusFailed:
			r.Error = &shared.TaskError{Name: "Error", Message: "image not found"}
		case shared.StatusCancelled:
			r.DateCancelled = &done
			r.DateCompleted = nil
		}
	}
	return r, nil
}

// scale loads the data set once, then measures queries, RSS and first
// dispatch cfg.slowRuns times.
func (b *bench) scale(ctx context.Context) error {
	dir, err := b.tempDir("scale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// Earlier scenarios' garbage is not the host's: give it back first.
	runtime.GC()
	debug.FreeOSMemory()
	b.logf("  RSS before the store opens: %s", rssLine())

	st, err := badgerstore.Open(dir, badgerstore.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	// The host the queries go to: no handler, not started.
	qh, err := b.newHost(ctx, hostConfig{Store: st, NoStart: true})
	if err != nil {
		return err
	}
	defer qh.close()

	t0 := time.Now()
	peak := watchPeakAnon(250 * time.Millisecond)
	err = b.scaleLoad(ctx, qh.h, st, scaleBadgerProcessing)
	peakAnon := peak()
	if err != nil {
		return err
	}
	load := time.Since(t0)
	b.res.add("scale.load.time", load.Seconds())
	b.res.add("scale.load.rate", float64(b.cfg.scaleTasks)/load.Seconds())
	b.logf("  loaded %d tasks in %v (%.0f tasks/s); anonymous RSS at most %.0f MB meanwhile", b.cfg.scaleTasks, load.Round(time.Millisecond), float64(b.cfg.scaleTasks)/load.Seconds(), peakAnon)
	b.res.add("scale.rss.load.peak.anon", peakAnon)
	runtime.GC()
	rss := procStatus("VmRSS", "RssAnon", "RssFile")
	b.res.add("scale.rss.load", rss["VmRSS"]/1024)
	b.res.add("scale.rss.load.anon", rss["RssAnon"]/1024)
	b.res.add("scale.rss.load.file", rss["RssFile"]/1024)
	b.logf("  RSS after load: %s", rssLine())
	b.writeHeapProfile("scale-heap")

	for run := range b.cfg.slowRuns {
		if err := b.scaleQueries(ctx, qh, b.badger()); err != nil {
			return fmt.Errorf("queries, run %d: %w", run+1, err)
		}
		runtime.GC()
		rss := procStatus("VmRSS", "RssAnon", "RssFile")
		b.res.add("scale.rss.query", rss["VmRSS"]/1024)
		b.res.add("scale.rss.query.anon", rss["RssAnon"]/1024)
		b.res.add("scale.rss.query.file", rss["RssFile"]/1024)
		b.res.add("scale.heap.query", heapMB()["live"])
		b.logf("  RSS after queries: %s", rssLine())
	}
	b.writeHeapProfile("scale-heap-queries")
	// What the process holds without what the Go runtime has freed but
	// not given back yet: once, at the end, since paging it back in would
	// slow the queries that follow.
	debug.FreeOSMemory()
	rss = procStatus("VmRSS", "RssAnon")
	b.res.add("scale.rss.free", rss["VmRSS"]/1024)
	b.res.add("scale.rss.free.anon", rss["RssAnon"]/1024)
	b.logf("  RSS after FreeOSMemory: %s", rssLine())
	for run := range b.cfg.slowRuns {
		if err := b.scaleFirstDispatch(ctx, st); err != nil {
			return fmt.Errorf("first dispatch, run %d: %w", run+1, err)
		}
	}
	return nil
}

// scaleLoad writes the data set: the pending tasks of scaleRunType through
// Host.CreateMany, everything else straight into the store with its final
// status (Store.Create takes any valid status), in batches of
// cfg.scaleBatch from cfg.scaleLoaders goroutines.
func (b *bench) scaleLoad(ctx context.Context, h *host.Host, st store.Store, maxProcessing int) error {
	pending := b.cfg.scalePending
	mixed := b.cfg.scaleTasks - pending
	batch := b.cfg.scaleBatch
	// A job is a batch of host-created pending tasks (pending) or the
	// mixed part's tasks from..from+n.
	type job struct {
		pending bool
		from, n int
	}
	jobs := make(chan job)
	var done atomic.Int64
	errs := make(chan error, b.cfg.scaleLoaders)
	loadCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	t0 := time.Now()
	step := int64(max(b.cfg.scaleTasks/10, 1))
	for range b.cfg.scaleLoaders {
		wg.Go(func() {
			for j := range jobs {
				var err error
				if j.pending {
					tasks := make([]host.NewTask, j.n)
					for i := range tasks {
						tasks[i] = host.NewTask{Type: scaleRunType, Payload: json.RawMessage(scalePayload)}
					}
					_, err = h.CreateMany(loadCtx, tasks)
				} else {
					recs := make([]*store.Record, j.n)
					for i := range recs {
						if recs[i], err = mixedRecord(j.from+i, mixed, maxProcessing, t0); err != nil {
							break
						}
					}
					if err == nil {
						err = st.Create(loadCtx, recs...)
					}
				}
				if err != nil {
					errs <- err
					cancel()
					return
				}
				if n := done.Add(int64(j.n)); (n-int64(j.n))/step != n/step {
					b.logf("  loaded %d of %d in %v", n, b.cfg.scaleTasks, time.Since(t0).Round(time.Millisecond))
				}
			}
		})
	}
	// Interleave the two parts, so that both grow together.
	for i, pendingLeft := 0, pending; (i < mixed || pendingLeft > 0) && loadCtx.Err() == nil; {
		var j job
		if pendingLeft > 0 && (i >= mixed || pendingLeft*mixed >= (mixed-i)*pending) {
			j = job{pending: true, n: min(batch, pendingLeft)}
			pendingLeft -= j.n
		} else {
			j = job{from: i, n: min(batch, mixed-i)}
			i += j.n
		}
		select {
		case jobs <- j:
		case <-loadCtx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return fmt.Errorf("load: %w", err)
	}
	return ctx.Err()
}

// queryCase is one filter × sort × order.
type queryCase struct {
	name string
	q    host.Query
}

func queryCases() []queryCase {
	filters := []struct {
		name string
		typ  string
		st   shared.Status
	}{
		{"all", "", ""},
		{"type=scale-b", "scale-b", ""},
		{"status=failed", "", shared.StatusFailed},
		{"status=processing", "", shared.StatusProcessing},
		{"type=scale-b,status=pending", "scale-b", shared.StatusPending},
	}
	var out []queryCase
	for _, f := range filters {
		for _, s := range []store.SortField{store.SortDateCreated, store.SortDateModified, store.SortDateCompleted, store.SortStatus} {
			for _, desc := range []bool{false, true} {
				order := "asc"
				if desc {
					order = "desc"
				}
				out = append(out, queryCase{
					name: fmt.Sprintf("%s sort=%s %s", f.name, s, order),
					q:    host.Query{Type: f.typ, Status: f.st, SortBy: s, Desc: desc, Limit: 100},
				})
			}
		}
	}
	return out
}

// scaleQueries times, through GET /v1/tasks, the first page of 100 of
// every query case and the page after it (through the first page's
// cursor), cfg.queryReps times round-robin, and records the p50s as the
// backend's figures.
func (b *bench) scaleQueries(ctx context.Context, qh *benchHost, be *backend) error {
	cases := queryCases()
	first := make([]measure.Latencies, len(cases))
	next := make([]measure.Latencies, len(cases))
	for range b.cfg.queryReps {
		for i, c := range cases {
			t0 := time.Now()
			page, err := qh.client.List(ctx, c.q)
			d := time.Since(t0)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			if len(page.Tasks) != 100 || page.Cursor == "" {
				return fmt.Errorf("%s: %d tasks, cursor %q: want a full page and more", c.name, len(page.Tasks), page.Cursor)
			}
			first[i] = append(first[i], d)
			q := c.q
			q.Cursor = page.Cursor
			t0 = time.Now()
			page, err = qh.client.List(ctx, q)
			d = time.Since(t0)
			if err != nil {
				return fmt.Errorf("%s, second page: %w", c.name, err)
			}
			if len(page.Tasks) == 0 {
				return fmt.Errorf("%s, second page: no task", c.name)
			}
			next[i] = append(next[i], d)
		}
	}
	var firstP50, nextP50, all []float64
	detail := map[string][2]float64{}
	for i, c := range cases {
		f, n := first[i].PMs(50), next[i].PMs(50)
		firstP50 = append(firstP50, f)
		nextP50 = append(nextP50, n)
		all = append(all, f, n)
		detail[c.name] = [2]float64{f, n}
	}
	b.res.add(be.key("scale.query.first"), slices.Max(firstP50))
	b.res.add(be.key("scale.query.cursor"), slices.Max(nextP50))
	b.res.add(be.key("scale.query.median"), summarize(all).Median)
	runs, _ := b.res.details[be.prefix+"scale_query_p50_ms"].([]map[string][2]float64)
	b.res.details[be.prefix+"scale_query_p50_ms"] = append(runs, detail)
	// The slowest few, for whoever chases them.
	order := make([]int, len(cases))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(x, y int) int {
		return cmp.Compare(max(firstP50[y], nextP50[y]), max(firstP50[x], nextP50[x]))
	})
	for _, i := range order[:min(5, len(order))] {
		b.logf("  slow query: %-52s first %s ms, via cursor %s ms", cases[i].name, formatNumber(firstP50[i]), formatNumber(nextP50[i]))
	}
	return nil
}

// scaleFirstDispatch starts a fresh host with a handler of scaleRunType
// over the loaded store and times Start → the first 'processing'
// callback. The host is stopped right after (a few tasks run meanwhile).
func (b *bench) scaleFirstDispatch(ctx context.Context, st *badgerstore.Store) error {
	rh, err := b.newHost(ctx, hostConfig{Store: st, NoStart: true, NoAPI: true, Handler: true, HandlerType: scaleRunType})
	if err != nil {
		return err
	}
	defer rh.close()
	tr := rh.track(0, false, nil)
	t0 := time.Now()
	if err := rh.h.Start(ctx); err != nil {
		return err
	}
	started := time.Since(t0)
	select {
	case <-tr.firstCh:
	case <-time.After(time.Minute):
		return fmt.Errorf("no dispatch within a minute of Start")
	case <-ctx.Done():
		return ctx.Err()
	}
	d := tr.firstStart().Sub(t0)
	b.res.add("scale.dispatch", float64(d)/float64(time.Millisecond))
	b.logf("  first dispatch %v after Start (Start returned after %v)", d.Round(10*time.Microsecond), started.Round(10*time.Microsecond))
	return nil
}

// procStatus reads fields of /proc/self/status, in kB.
func procStatus(fields ...string) map[string]float64 {
	out := map[string]float64{}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || !slices.Contains(fields, k) {
			continue
		}
		if n, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64); err == nil {
			out[k] = n
		}
	}
	return out
}

// watchPeakAnon samples the anonymous resident set (RssAnon) every
// interval until the function it returns is called, which returns the
// highest sample in MB.
func watchPeakAnon(interval time.Duration) func() float64 {
	stop := make(chan struct{})
	done := make(chan float64)
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		peak := 0.0
		for {
			peak = max(peak, procStatus("RssAnon")["RssAnon"]/1024)
			select {
			case <-stop:
				done <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return func() float64 {
		close(stop)
		return <-done
	}
}

// heapMB reads the Go runtime's memory classes, in MB: live (the heap
// marked live by the last collection), free (heap the runtime holds but
// no object uses, not yet returned to the OS: it counts as anonymous RSS)
// and total (all the runtime has mapped and not returned).
func heapMB() map[string]float64 {
	names := map[string]string{
		"/gc/heap/live:bytes":                 "live",
		"/memory/classes/heap/free:bytes":     "free",
		"/memory/classes/total:bytes":         "total",
		"/memory/classes/heap/released:bytes": "released",
	}
	samples := make([]metrics.Sample, 0, len(names))
	for n := range names {
		samples = append(samples, metrics.Sample{Name: n})
	}
	metrics.Read(samples)
	out := map[string]float64{}
	for _, s := range samples {
		if s.Value.Kind() == metrics.KindUint64 {
			out[names[s.Name]] = float64(s.Value.Uint64()) / (1 << 20)
		}
	}
	// Released pages are mapped but not resident.
	out["total"] -= out["released"]
	return out
}

// rssLine describes the resident set and the Go heap.
func rssLine() string {
	s := procStatus("VmRSS", "RssAnon", "RssFile")
	h := heapMB()
	return fmt.Sprintf("VmRSS %.0f MB (anon %.0f, file %.0f); Go heap live %.0f MB, free not returned %.0f MB, runtime total %.0f MB",
		s["VmRSS"]/1024, s["RssAnon"]/1024, s["RssFile"]/1024, h["live"], h["free"], h["total"])
}
