// Package badgerstore keeps tasks in an embedded Badger database: the
// default [store.Store] of the host, and the only package that uses Badger.
//
// # Layout
//
// A task is one record (a compact binary encoding, record.go) plus index
// entries with empty values, so that every question the engine asks is a
// prefix scan: the dispatch index (pending tasks by type and due time) for
// Claim and NextDue, the processing index (by lease owner), the retention
// index (by retain-until) for Sweep, and one query index per sort field
// with a status filter, with and without a type filter. keys.go documents
// the key layout. A record and all its index entries change in one
// transaction; a change rewrites only the index entries that moved.
// A query without a status filter merges the ranges of every status in
// its index, so no index holds every task; processing tasks are in no
// query index, which would have them only from claim to end: queries that
// can meet them merge in keys made from the processing records instead.
// So a task writes 19 keys from create to a removed end (format 2: 35;
// format 1: 47). Open migrates stores of the formats before (migrate.go).
//
// # Durability
//
// Badger runs with SyncWrites off; a call that changed something returns
// only after a sync of Badger's logs that started after its commit.
// Concurrent writers share those syncs (group commit, groupsync.go), so
// throughput grows with the number of writers while every acknowledged
// change is on disk. The sync fdatasyncs the log files itself
// (walsync.go): Badger's db.Sync holds the lock every commit needs for
// the whole fsync.
// Options.OnSync and Options.OnCommit report each group sync (commits
// and duration) and each durable write's latency, for metrics.
//
// # Claims
//
// Claims of one type are serialised in the process and start their scan
// at a remembered floor instead of the start of the type, so they do not
// step over the deletion markers of every task claimed before
// (floors.go). Badger's transactions keep a claim atomic against
// concurrent updates; a conflict is retried.
//
// # Schedules
//
// The store also keeps host/scheduler's schedules (schedule.go), one key
// each beside the tasks: SaveSchedule, LoadSchedule, ClaimTrigger (a
// compare-and-set on a trigger's next time) and DeleteSchedule, through
// the same durable write path as tasks.
//
// # Cursors
//
// A query cursor is the last index key the page returned (for a query
// without a status filter, that key without the status). The next page
// seeks just past it, so a task whose key did not change is never repeated
// or skipped, whatever else is written meanwhile.
//
// The store knows nothing about processes, plugins or HTTP.
//
// [store.Store]: https://pkg.go.dev/github.com/taskhost/taskhost/host/store#Store
package badgerstore
