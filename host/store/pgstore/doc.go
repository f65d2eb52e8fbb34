// Package pgstore keeps tasks in PostgreSQL: the [store.Store] of cluster
// mode, where several hosts share one database, and the only package that
// uses pgx. Badger ([badgerstore]) remains the default for one host.
//
// # Schema and migrations
//
// Everything lives in one schema (Options.Schema, default "taskhost"), so
// clusters that must not see each other's tasks can share a database.
// Every connection of the pool has its search_path set to that schema (a
// run-time parameter of the connection), and the SQL names its tables
// without a schema: the statements are the same text for every schema.
// The schema name is the one identifier the Go side writes into SQL
// (CREATE SCHEMA): it is checked to be lower-case letters, digits and _,
// and quoted.
//
// Open creates the schema if needed and applies the numbered migrations
// of migrations/ it lacks ([Migrate]; [MigrationStatus] lists them), each
// in its own transaction, recorded in schema_migrations. Every such
// transaction first takes an advisory transaction lock whose key is a
// hash of the schema name, then looks again at what is applied: nodes
// that start together wait for each other instead of racing, and each
// migration runs once.
//
// # Tables
//
// tasks has a column per field of [store.Record]; migrations/001 is the
// reference. Times are timestamptz (microseconds: the store keeps the
// milliseconds of the contract exactly). Status is an enum whose order is
// the life-cycle order, so sorting by status needs no expression. Text
// that is sorted or compared is COLLATE "C" (byte order, as Go compares).
//
// Payload, result, error, contextIds and progress are json, not jsonb.
// jsonb would be fine for the contract's round trip (storetest compares
// JSON semantically), but it refuses the escape \u0000, which is valid
// JSON: a payload may hold it, and so may a plugin's error message once
// encoded. json keeps the text as the client sent it, so the API also
// shows a payload with its keys in the client's order, as badgerstore
// does. Cast to jsonb in ad-hoc SQL when you need its operators.
//
// Text columns cannot hold NUL bytes or invalid UTF-8: an id, type,
// thread id or lease owner with either is refused with
// shared.ErrInvalidArgument (the host's names never have them).
//
// Indexes: a partial index of pending tasks by (type, due, created, id)
// serves Claim and NextDue; one of processing tasks by owner serves
// Processing; one of terminal tasks by retain-until serves Sweep; and one
// index per sort and filter of [store.Query] (12, as in badgerstore), so
// that every page is one range of one index, read forwards or backwards.
// TestQueryPlans checks the plans. Counts walks the distinct types with a
// loose index scan and counts each (type, status) asked for on an index.
// The price is write amplification: a change of status or date moves
// several index entries.
//
// # SQL
//
// The statements are in sql/, one per file, embedded; the Go side binds
// arguments and scans rows. The column list of a record is sql/columns.sql,
// pasted where a statement says /*columns*/. The query statements are the
// exception: 4 sorts × 4 filters × 2 directions × first page or later
// would be 64 files that differ only in WHERE and ORDER BY, so query.go
// builds them from a table of sort keys. A cursor is the query's shape
// (sort and filters) and the sort key of the last task of its page;
// one made for another query is refused.
//
// # Concurrency
//
// Claim is one statement: UPDATE … FROM (the lapsed leases of the type,
// then its due pending tasks, each picked with … ORDER BY … LIMIT n FOR
// UPDATE SKIP LOCKED) RETURNING …, so claimers on any node take disjoint
// tasks without waiting for each other. It commits without waiting for
// the WAL flush: a claim need not be durable, and the outcome written
// after it, which is, flushes it too. Claims and the next-due lookup run
// with sorts and sequential scans as the planner's last resort, so that
// stale statistics cannot turn them into a sort of the backlog (see
// ordered.go). Update and Delete are conditional (WHERE status = from
// …), and Update from processing is fenced on attempts
// ([store.CheckUpdate]): a node whose claim was superseded changes
// nothing. Those single-task writes go through a writer that commits the
// writes waiting together in one transaction, one round trip (batch.go):
// outcomes of tasks that finish at once share a commit. Sweep deletes in
// bounded batches picked with SKIP LOCKED, so nodes sweeping at once
// neither block nor fail on rows another node removed. Every write but a
// claim is durable when it returns.
//
// # Notifications
//
// A create notifies the type of its tasks on <schema>_work, from its
// transaction; every node listens (ListenWork) and looks for work at
// once. The final states of tasks removed as they finish go out on
// <schema>_final, packed into as few notifications as fit (a notification
// costs the server and each listener far more than its bytes), each
// headed by the sending store's random origin so that it skips its own.
//
// The store knows nothing about processes, plugins or HTTP.
//
// [store.Store]: https://pkg.go.dev/github.com/taskhost/taskhost/host/store#Store
// [badgerstore]: https://pkg.go.dev/github.com/taskhost/taskhost/host/store/badgerstore
// [store.Record]: https://pkg.go.dev/github.com/taskhost/taskhost/host/store#Record
// [store.Query]: https://pkg.go.dev/github.com/taskhost/taskhost/host/store#Query
// [store.CheckUpdate]: https://pkg.go.dev/github.com/taskhost/taskhost/host/store#CheckUpdate
package pgstore
