package main

import (
	"slices"
	"strconv"
)

// Targets from issue 5, checked against each figure's median over runs
// (issue 12 raised bulk's share of the raw echo from 0.40 to 0.60).
const (
	targetBulkRate      = 20_000 // tasks/s
	targetBulkOfEcho    = 0.60   // of the raw echo calls/s over the pool's mTLS, bulk's own transport (the issue measured it with AutoMTLS)
	targetStartP50      = 1      // ms, create → handler start
	targetStartP99      = 3
	targetResultP50     = 2 // ms, create → result visible
	targetResultP99     = 5
	targetColdStartP50  = 6    // ms
	targetCreateP50     = 1    // ms, durable POST /v1/tasks
	targetQueryP50      = 5    // ms, a page of 100 at 1M tasks
	targetRSS           = 300  // MB
	targetAnonRSS       = 200  // MB, anonymous only (issue 12): file-backed pages are reported apart
	targetFirstDispatch = 1000 // ms from Start with 100k pending
)

// Target from issue 12: a worker start with mutual TLS against a raw
// go-plugin start without TLS.
const targetColdStartOfRaw = 1.5

// Targets from issue 12 for bulk with 8 tasks per worker: the rate, and
// the rate against the River peer's when it ran in the same run.
const (
	targetBulkConcRate    = 20_000 // tasks/s
	targetBulkConcOfRiver = 1.2
)

// Targets from issue 11 for the scenarios run on pgstore.
const (
	targetPgBulkOfRiver = 0.5 // of the River peer's jobs/s
	targetPgStartP50    = 3   // ms, create → handler start
)

// figureSpecs lists every figure in table order.
func figureSpecs(bulkTasks, scaleTasks, scalePending int) []spec {
	bulkN := formatCount(bulkTasks)
	scaleN := formatCount(scaleTasks)
	pendingN := formatCount(scalePending)
	specs := []spec{
		{Key: "raw.echo8.rate", Scenario: "baseline", Name: "raw go-plugin echo, 8 procs × 8 callers", Unit: "calls/s"},
		{Key: "raw.echo8.p50", Scenario: "baseline", Name: "raw echo round trip p50, 8 × 8", Unit: "µs"},
		{Key: "raw.echo1.p50", Scenario: "baseline", Name: "raw echo round trip p50, 1 × 1", Unit: "µs"},
		{Key: "raw.echo1idle.p50", Scenario: "baseline", Name: "same, one call every 5 ms (idle between), mTLS", Unit: "µs"},
		{Key: "raw.echo8mtls.rate", Scenario: "baseline", Name: "raw echo with mTLS (the pool's default), 8 × 8", Unit: "calls/s",
			Baseline: "raw.echo8.rate", BaselineName: "raw echo"},
		{Key: "raw.echo8calls.rate", Scenario: "baseline", Name: "same, each process's calls on one stream (protocol 2), 8 × 8", Unit: "calls/s",
			Baseline: "raw.echo8mtls.rate", BaselineName: "unary, mTLS"},
		{Key: "raw.badger64.rate", Scenario: "baseline", Name: "raw Badger group commit, 64 writers", Unit: "commits/s"},
		{Key: "raw.badger8.rate", Scenario: "baseline", Name: "raw Badger group commit, 8 writers", Unit: "commits/s"},
		{Key: "raw.badger8.p50", Scenario: "baseline", Name: "raw durable commit p50, 8 writers", Unit: "ms"},
		{Key: "raw.badger1.rate", Scenario: "baseline", Name: "raw Badger group commit, 1 writer", Unit: "commits/s"},
		{Key: "raw.badger1.p50", Scenario: "baseline", Name: "raw durable commit p50, 1 writer", Unit: "ms"},
		{Key: "raw.spawn.p50", Scenario: "baseline", Name: "raw cold start p50 (NewClient → initialise)", Unit: "ms"},
		{Key: "raw.spawn.p99", Scenario: "baseline", Name: "raw cold start p99", Unit: "ms"},
		{Key: "raw.spawntls.p50", Scenario: "baseline", Name: "raw cold start p50 with mTLS (the pool's, P-256)", Unit: "ms",
			Baseline: "raw.spawn.p50", BaselineName: "raw p50"},
		{Key: "raw.spawnmtls.p50", Scenario: "baseline", Name: "raw cold start p50 with go-plugin's AutoMTLS (P-521)", Unit: "ms",
			Baseline: "raw.spawn.p50", BaselineName: "raw p50"},

		{Key: "bulk.backlog.e2e", Scenario: "bulk", Name: bulkN + " batch-created, then run: first create → last done", Unit: "tasks/s",
			Target: atLeast(targetBulkRate), Baseline: "raw.echo8mtls.rate", BaselineName: "raw echo, mTLS", RatioTarget: atLeast(targetBulkOfEcho)},
		{Key: "bulk.backlog.create", Scenario: "bulk", Name: "backlog: batch create (POST /v1/tasks/batch)", Unit: "tasks/s",
			Baseline: "raw.badger64.rate", BaselineName: "raw commits"},
		{Key: "bulk.backlog.drain", Scenario: "bulk", Name: "backlog: run (wake → last done)", Unit: "tasks/s",
			Baseline: "raw.echo8mtls.rate", BaselineName: "raw echo, mTLS"},
		{Key: "bulk.overlap.e2e", Scenario: "bulk", Name: bulkN + " created while processing: first create → last done", Unit: "tasks/s",
			Target: atLeast(targetBulkRate), Baseline: "raw.echo8mtls.rate", BaselineName: "raw echo, mTLS", RatioTarget: atLeast(targetBulkOfEcho)},

		{Key: "bulkc8.backlog.e2e", Scenario: "bulk, conc 8", Name: bulkN + " batch-created, then run, 8 tasks per worker × 8 workers", Unit: "tasks/s",
			Target: atLeast(targetBulkConcRate), Baseline: riverPrefix + "bulk.backlog.e2e", BaselineName: "River",
			RatioTarget: atLeast(targetBulkConcOfRiver), PeerBaseline: true},
		{Key: "bulkc8.backlog.create", Scenario: "bulk, conc 8", Name: "backlog: batch create (POST /v1/tasks/batch)", Unit: "tasks/s",
			Baseline: "raw.badger64.rate", BaselineName: "raw commits"},
		{Key: "bulkc8.backlog.drain", Scenario: "bulk, conc 8", Name: "backlog: run (wake → last done), 8 per worker", Unit: "tasks/s",
			Baseline: "bulk.backlog.drain", BaselineName: "1 per worker"},
		{Key: "bulkc8.overlap.e2e", Scenario: "bulk, conc 8", Name: bulkN + " created while processing, 8 tasks per worker × 8 workers", Unit: "tasks/s",
			Target: atLeast(targetBulkConcRate), Baseline: riverPrefix + "bulk.overlap.e2e", BaselineName: "River",
			RatioTarget: atLeast(targetBulkConcOfRiver), PeerBaseline: true},
		{Key: "io.c1.rate", Scenario: "io-bound", Name: "tasks sleeping 10 ms, 1 per worker × 8 workers", Unit: "tasks/s"},
		{Key: "io.c32.rate", Scenario: "io-bound", Name: "same, 32 per worker × 8 workers", Unit: "tasks/s",
			Baseline: "io.c1.rate", BaselineName: "1 per worker"},

		{Key: "paced.start.p50", Scenario: "paced", Name: "create → handler start p50", Unit: "ms",
			Target: atMost(targetStartP50), Baseline: "raw.badger1.p50", BaselineName: "raw commit"},
		{Key: "paced.start.p99", Scenario: "paced", Name: "create → handler start p99", Unit: "ms",
			Target: atMost(targetStartP99), Baseline: "raw.badger1.p50", BaselineName: "raw commit"},
		{Key: "paced.result.p50", Scenario: "paced", Name: "create → result stored p50", Unit: "ms",
			Target: atMost(targetResultP50), Baseline: "raw.badger1.p50", BaselineName: "raw commit"},
		{Key: "paced.result.p99", Scenario: "paced", Name: "create → result stored p99", Unit: "ms",
			Target: atMost(targetResultP99), Baseline: "raw.badger1.p50", BaselineName: "raw commit"},
		{Key: "paced.rate", Scenario: "paced", Name: "pace achieved (200/s asked)", Unit: "tasks/s"},

		{Key: "cold.spawn.p50", Scenario: "cold start", Name: "pool spawn + handshake + initialise p50 (mTLS)", Unit: "ms",
			Target: atMost(targetColdStartP50), Baseline: "raw.spawntls.p50", BaselineName: "raw mTLS p50"},
		{Key: "cold.raw.p50", Scenario: "cold start", Name: "raw start without TLS p50, alternated with the pool's", Unit: "ms",
			Baseline: "raw.spawn.p50", BaselineName: "raw-spawn baseline"},
		{Key: "cold.spawnvsraw.p50", Scenario: "cold start", Name: "pool's mTLS start against the raw start alternated with it", Unit: "ms",
			Baseline: "cold.raw.p50", BaselineName: "raw p50", RatioTarget: atMost(targetColdStartOfRaw)},
		{Key: "cold.spawn.p99", Scenario: "cold start", Name: "pool spawn + handshake + initialise p99", Unit: "ms",
			Baseline: "raw.spawn.p99", BaselineName: "raw p99"},
		{Key: "cold.warm.p50", Scenario: "cold start", Name: "pool warm call p50 (subtracted above)", Unit: "µs",
			Baseline: "raw.echo1.p50", BaselineName: "raw echo"},
		{Key: "cold.nomtls.spawn.p50", Scenario: "cold start", Name: "same cold start p50, mTLS off", Unit: "ms",
			Baseline: "cold.spawn.p50", BaselineName: "with mTLS"},
		{Key: "cold.nomtls.warm.p50", Scenario: "cold start", Name: "same warm call p50, mTLS off", Unit: "µs",
			Baseline: "cold.warm.p50", BaselineName: "with mTLS"},

		{Key: "node.bare.p50", Scenario: "node", Name: "node -e 0, spawn to exit, p50 (node's bare start)", Unit: "ms"},
		{Key: "node.coldmtls.p50", Scenario: "node", Name: "Node plugin cold start p50 (pool spawn + handshake + initialise, mTLS)", Unit: "ms",
			Baseline: "cold.spawn.p50", BaselineName: "Go plugin's"},
		{Key: "node.coldmtls.over", Scenario: "node", Name: "  over node's bare start", Unit: "ms", Target: atMost(targetNodeColdOverMs)},
		{Key: "node.cold.p50", Scenario: "node", Name: "same cold start p50, mTLS off", Unit: "ms",
			Baseline: "cold.nomtls.spawn.p50", BaselineName: "Go plugin's"},
		{Key: "node.cold.over", Scenario: "node", Name: "  over node's bare start, mTLS off", Unit: "ms", Target: atMost(targetNodeColdOverMs)},
		{Key: "node.warm.p50", Scenario: "node", Name: "Node plugin warm echo round trip p50 (pool call, steady: after 5,000 calls)", Unit: "µs",
			Baseline: "node.go.warm.p50", BaselineName: "Go plugin's", RatioTarget: atMost(targetNodeWarmOfGo)},
		{Key: "node.go.warm.p50", Scenario: "node", Name: "  the Go test plugin's, measured alike right after", Unit: "µs",
			Baseline: "cold.warm.p50", BaselineName: "its first 300"},
		{Key: "node.warmfirst.p50", Scenario: "node", Name: "Node plugin echo round trip p50, calls 1–300 after the start", Unit: "µs",
			Baseline: "node.go.warmfirst.p50", BaselineName: "Go plugin's"},
		{Key: "node.go.warmfirst.p50", Scenario: "node", Name: "  the Go test plugin's, calls 1–300", Unit: "µs"},
		{Key: "node.nomtls.warm.p50", Scenario: "node", Name: "Node plugin steady warm round trip p50, mTLS off", Unit: "µs",
			Baseline: "node.nomtls.go.warm.p50", BaselineName: "Go plugin's", RatioTarget: atMost(targetNodeWarmOfGo)},
		{Key: "node.nomtls.go.warm.p50", Scenario: "node", Name: "  the Go test plugin's, mTLS off", Unit: "µs"},

		{Key: "create.c8.p50", Scenario: "create call", Name: "POST /v1/tasks p50, 8 clients", Unit: "ms",
			Target: atMost(targetCreateP50), Baseline: "raw.badger8.p50", BaselineName: "raw commit"},
		{Key: "create.c8.p99", Scenario: "create call", Name: "POST /v1/tasks p99, 8 clients", Unit: "ms"},
		{Key: "create.c8.rate", Scenario: "create call", Name: "POST /v1/tasks throughput, 8 clients", Unit: "tasks/s",
			Baseline: "raw.badger8.rate", BaselineName: "raw commits"},
		{Key: "create.c1.p50", Scenario: "create call", Name: "POST /v1/tasks p50, 1 client", Unit: "ms",
			Target: atMost(targetCreateP50), Baseline: "raw.badger1.p50", BaselineName: "raw commit"},
		{Key: "create.c1.p99", Scenario: "create call", Name: "POST /v1/tasks p99, 1 client", Unit: "ms"},

		{Key: "river.bulk.backlog.e2e", Scenario: "river (peer)", Name: bulkN + " batch-inserted, then run: first insert → last completed", Unit: "jobs/s"},
		{Key: "river.bulk.backlog.insert", Scenario: "river (peer)", Name: "backlog: InsertMany, batches of 1000", Unit: "jobs/s"},
		{Key: "river.bulk.backlog.drain", Scenario: "river (peer)", Name: "backlog: run (resume → last completed)", Unit: "jobs/s"},
		{Key: "river.bulk.overlap.e2e", Scenario: "river (peer)", Name: bulkN + " inserted while processing: first insert → last completed", Unit: "jobs/s"},
		{Key: "river.bulk.overlap.insert", Scenario: "river (peer)", Name: "inserted while processing: InsertMany, batches of 100", Unit: "jobs/s"},
		{Key: "river.paced.start.p50", Scenario: "river (peer)", Name: "insert → worker start p50", Unit: "ms"},
		{Key: "river.paced.start.p99", Scenario: "river (peer)", Name: "insert → worker start p99", Unit: "ms"},
		{Key: "river.paced.result.p50", Scenario: "river (peer)", Name: "insert → completed event p50", Unit: "ms"},
		{Key: "river.paced.result.p99", Scenario: "river (peer)", Name: "insert → completed event p99", Unit: "ms"},
		{Key: "river.paced.rate", Scenario: "river (peer)", Name: "pace achieved (200/s asked)", Unit: "jobs/s"},
		{Key: "river.create.c8.p50", Scenario: "river (peer)", Name: "Insert p50, 8 inserters", Unit: "ms"},
		{Key: "river.create.c8.p99", Scenario: "river (peer)", Name: "Insert p99, 8 inserters", Unit: "ms"},
		{Key: "river.create.c8.rate", Scenario: "river (peer)", Name: "Insert throughput, 8 inserters", Unit: "jobs/s"},
		{Key: "river.create.c1.p50", Scenario: "river (peer)", Name: "Insert p50, 1 inserter", Unit: "ms"},
		{Key: "river.create.c1.p99", Scenario: "river (peer)", Name: "Insert p99, 1 inserter", Unit: "ms"},
		{Key: "river.create.c1.rate", Scenario: "river (peer)", Name: "Insert throughput, 1 inserter", Unit: "jobs/s"},
	}
	scale := []spec{
		{Key: "scale.load.time", Scenario: "scale", Name: "load " + scaleN + " tasks (once)", Unit: "s"},
		{Key: "scale.load.rate", Scenario: "scale", Name: "load rate (batched creates)", Unit: "tasks/s"},
		{Key: "scale.query.first", Scenario: "scale", Name: "query page of 100 p50, worst of 40 (first page)", Unit: "ms",
			Target: atMost(targetQueryP50)},
		{Key: "scale.query.cursor", Scenario: "scale", Name: "query page of 100 p50, worst of 40 (via cursor)", Unit: "ms",
			Target: atMost(targetQueryP50)},
		{Key: "scale.query.median", Scenario: "scale", Name: "query page of 100 p50, median of all 80", Unit: "ms",
			Target: atMost(targetQueryP50)},
		{Key: "scale.rss.load.peak.anon", Scenario: "scale", Name: "anonymous RSS while loading, highest (sampled every 250 ms)", Unit: "MB"},
		{Key: "scale.rss.load", Scenario: "scale", Name: "process RSS after load (after GC)", Unit: "MB", Target: atMost(targetRSS)},
		{Key: "scale.rss.load.anon", Scenario: "scale", Name: "  of which anonymous (Go heap incl. Badger's memtables)", Unit: "MB", Target: atMost(targetAnonRSS)},
		{Key: "scale.rss.load.file", Scenario: "scale", Name: "  of which file-backed (Badger's mapped files)", Unit: "MB"},
		{Key: "scale.rss.query", Scenario: "scale", Name: "process RSS after queries (after GC)", Unit: "MB", Target: atMost(targetRSS)},
		{Key: "scale.rss.query.anon", Scenario: "scale", Name: "  of which anonymous (Go heap incl. Badger's memtables)", Unit: "MB", Target: atMost(targetAnonRSS)},
		{Key: "scale.rss.query.file", Scenario: "scale", Name: "  of which file-backed (Badger's mapped files)", Unit: "MB"},
		{Key: "scale.heap.query", Scenario: "scale", Name: "Go heap live after queries", Unit: "MB"},
		{Key: "scale.rss.free", Scenario: "scale", Name: "process RSS at the end (after FreeOSMemory, once)", Unit: "MB"},
		{Key: "scale.rss.free.anon", Scenario: "scale", Name: "  of which anonymous", Unit: "MB"},
		{Key: "scale.dispatch", Scenario: "scale", Name: "Start → first dispatch, " + pendingN + " pending", Unit: "ms",
			Target: atMost(targetFirstDispatch)},
	}
	return slices.Concat(specs, pgSpecs(specs), scale, pgScaleSpecs(scale))
}

// formatCount writes 1000000 as "1M", 100000 as "100k", 12500 as
// "12.5k".
func formatCount(n int) string {
	switch {
	case n >= 1_000_000 && n%100_000 == 0:
		return strconv.FormatFloat(float64(n)/1e6, 'f', -1, 64) + "M"
	case n >= 1000 && n%100 == 0:
		return strconv.FormatFloat(float64(n)/1e3, 'f', -1, 64) + "k"
	}
	return strconv.Itoa(n)
}
