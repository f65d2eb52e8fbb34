package badgerstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/skl"
	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// Options configure Open. The zero value is a working on-disk store.
type Options struct {
	// Logger receives the store's warnings and Badger's warnings and
	// errors. nil discards them.
	Logger hclog.Logger
	// InMemory keeps everything in memory and ignores the directory;
	// nothing survives Close. For tests.
	InMemory bool
	// GCInterval is how often the value-log garbage collection runs.
	// 0 means DefaultGCInterval; negative turns it off.
	GCInterval time.Duration
	// OnSync, if set, is called after each successful group sync (see
	// Durability in the package doc) with the number of commits
	// (transactions: one may carry several writes made together, see
	// batch.go) it made durable and how long the sync took. It runs on a writer's
	// goroutine before the writers it covers are released, so it must be
	// quick and never block. An InMemory store never calls it.
	OnSync func(commits int, d time.Duration)
	// OnCommit, if set, is called after each durable write that changed
	// something, with the time from the call until the change was on disk:
	// conflict retries and the wait for the group sync included. Claims,
	// which are not synced, are not reported. Same rules as OnSync.
	OnCommit func(d time.Duration)

	// tune, when set, adjusts Badger's options last (tests shrink memory
	// use and benchmarks compare SyncWrites with it).
	tune func(*badger.Options)
}

// DefaultGCInterval is how often the value log is garbage collected when
// Options.GCInterval is zero.
const DefaultGCInterval = 5 * time.Minute

// How often a transaction is retried when it conflicts with a concurrent
// one, before the call fails with badger.ErrConflict.
const maxTxnAttempts = 100

// keysPerNewTask is how many keys a new task writes: its record, its
// dispatch key and its keys in the type+status query indexes (pending
// tasks are in no other).
const keysPerNewTask = 2 + len(queryIndexes)/2

// sweepBatch is how many tasks Sweep removes per transaction, to stay well
// below Badger's transaction size limit.
const sweepBatch = 256

// Store is the Badger backend of [store.Store].
type Store struct {
	db  *badger.DB
	log hclog.Logger
	// syncer is nil when Badger syncs each commit itself (SyncWrites) or
	// there is no disk (InMemory).
	syncer *groupSync
	logs   *logSync // what syncer syncs
	// valueThreshold: values at least this long go to Badger's value log
	// (0, all of them, when Badger adapts its threshold: VLogPercentile).
	valueThreshold int64
	onCommit       func(time.Duration)
	// changes batches Update, Delete and DeleteClaimed (batch.go).
	changes *store.Batches[change]
	floors  *claimFloors
	pending *pendingTypes

	// mu is held shared by every call and exclusively by Close, so that
	// Close waits for calls in flight and later calls get ErrClosed.
	mu     sync.RWMutex
	closed bool

	stopGC chan struct{}
	gcDone chan struct{}
}

var _ store.Store = (*Store)(nil)

// Open opens or creates the store in dir.
func Open(dir string, opts Options) (*Store, error) {
	if dir == "" && !opts.InMemory {
		return nil, fmt.Errorf("open store: %w: no directory", shared.ErrInvalidArgument)
	}
	log := opts.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	bo := badger.DefaultOptions(dir).
		WithLogger(badgerLogger{log: log.Named("badger")}).
		WithSyncWrites(false).
		WithMetricsEnabled(false). // Badger's metrics are process-wide expvars
		// Memory (make bench, scale: 1M tasks). Badger's defaults hold
		// 5 memtables of 64 MiB and a 256 MiB block cache, and their
		// compactions buffer whole tables of up to 64 MiB (compressed and
		// not) several at a time: 2.5 GB resident. Tables stay small and
		// uncompressed (the keys are prefix-compressed within a block
		// anyway), so no block cache is needed.
		// Without jemalloc all of Badger's buffers are Go heap, which the
		// runtime lets grow to twice what is live. A memtable of M bytes
		// is a 1.3×M arena, and flushing it grows a table builder's
		// buffers to about M (12 MiB at 16 MiB, 28 at 32), kept in a
		// pool of 8 that compactions reuse. 16 MiB rather than 32 halved
		// the anonymous RSS of a 1M-task load (peak 477-620 → 308-336 MB;
		// after the load 288-372 → 159-227 MB). Below 16 MiB only the
		// arena shrinks, while a memtable also bounds a transaction at
		// 15% of it: about 5,240 small tasks here (README).
		WithMemTableSize(16 << 20).
		WithNumMemtables(2).
		WithNumLevelZeroTables(4).
		WithNumLevelZeroTablesStall(12).
		WithNumCompactors(2).
		WithBaseTableSize(2 << 20).
		WithCompression(options.None).
		WithBlockCacheSize(0)
	bo.TableSizeMultiplier = 1
	if opts.InMemory {
		bo = bo.WithDir("").WithValueDir("").WithInMemory(true)
	}
	if opts.tune != nil {
		opts.tune(&bo)
	}
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	s := &Store{db: db, log: log, onCommit: opts.OnCommit, floors: newClaimFloors(), pending: newPendingTypes(), stopGC: make(chan struct{}), gcDone: make(chan struct{})}
	s.changes = store.NewBatches(changeFlushers, maxChangeBatch, s.flushChanges)
	if bo.VLogPercentile == 0 {
		s.valueThreshold = bo.ValueThreshold
	}
	if !bo.SyncWrites && !bo.InMemory {
		s.logs = newLogSync(bo.Dir, bo.ValueDir)
		s.syncer = newGroupSync(s.logs.sync)
		s.syncer.onSync = opts.OnSync
	}
	err = s.checkSchema()
	if err == nil {
		err = s.view(context.Background(), func(txn *badger.Txn) error {
			types, err := dispatchTypes(txn)
			for _, typ := range types {
				s.pending.add(typ)
			}
			return err
		})
	}
	if err != nil {
		s.changes.Close()
		_ = db.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	interval := opts.GCInterval
	if interval == 0 {
		interval = DefaultGCInterval
	}
	if interval > 0 && !bo.InMemory {
		go s.gcLoop(interval)
	} else {
		close(s.gcDone)
	}
	return s, nil
}

// gcLoop runs collectGarbage every interval until Close.
func (s *Store) gcLoop(interval time.Duration) {
	defer close(s.gcDone)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-s.stopGC:
			return
		case <-tick.C:
		}
		if _, err := s.collectGarbage(); err != nil {
			s.log.Warn("value log GC failed", "error", err)
		}
	}
}

// collectGarbage rewrites value-log files until Badger finds none worth
// rewriting (or Close begins), and returns how many it rewrote.
//
// Badger v4.9.6 reads the memtable's highest version without a lock
// while rewriting (DB.MaxVersion), racing with concurrent commits; the
// race detector reports it when a rewrite overlaps a write.
func (s *Store) collectGarbage() (int, error) {
	rewrote := 0
	for {
		select {
		case <-s.stopGC:
			return rewrote, nil
		default:
		}
		err := s.db.RunValueLogGC(0.5)
		if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) {
			return rewrote, nil
		}
		if err != nil {
			return rewrote, err
		}
		rewrote++
		// Badger has copied the live values of a log file into the
		// current one, without syncing, and deleted the old file: until
		// the copies are on disk a power loss would lose them. Sync now
		// rather than at the next write.
		if s.logs != nil {
			s.logs.valueLogWritten()
			if err := s.logs.sync(); err != nil {
				return rewrote, fmt.Errorf("sync after rewriting a value log: %w", err)
			}
		}
	}
}

// Close waits for calls in flight, stops the GC and closes the database.
// Later calls fail with shared.ErrClosed. Closing twice is harmless.
func (s *Store) Close() error {
	s.changes.Close() // the batches in flight finish first
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stopGC)
	<-s.gcDone
	err := s.db.Close()
	if s.logs != nil {
		s.logs.close()
	}
	if err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

func (s *Store) enter() error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return shared.ErrClosed
	}
	return nil
}

func (s *Store) leave() { s.mu.RUnlock() }

// view runs fn in a read-only transaction.
func (s *Store) view(ctx context.Context, fn func(txn *badger.Txn) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(fn)
}

// tx is one attempt of a read-write transaction.
type tx struct {
	*badger.Txn
	// valueThreshold is the value size from which Badger puts a value in
	// the value log; valueLog says the transaction set such a value.
	valueThreshold int64
	valueLog       bool
	// dispatched are the dispatch keys the transaction set, by type: the
	// claim floors learn of them once it has committed.
	dispatched []dispatched
}

type dispatched struct {
	typ string
	key []byte
}

// write runs fn in a read-write transaction and commits it, retrying on
// conflicts with concurrent transactions; fn reports whether it wrote
// anything. It returns once the change is on disk.
func (s *Store) write(ctx context.Context, fn func(t *tx) (bool, error)) error {
	return s.writeWith(ctx, true, true, nil, fn)
}

// writeWith is write with a hook around each attempt: begin runs before
// the transaction starts and returns what runs when the attempt is over,
// told whether it succeeded (committed, or had nothing to commit). When
// durable is false it returns once committed, without waiting for a sync
// (the next sync covers it). Unless report is false (a batch of writes,
// which reports each of them: batch.go), a commit calls ctx's
// store.Committed hook and, when durable, OnCommit.
func (s *Store) writeWith(ctx context.Context, durable, report bool, begin func() (end func(ok bool)), fn func(t *tx) (bool, error)) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	var start time.Time
	if durable && report && s.onCommit != nil {
		start = time.Now()
	}
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		// begin first: it may wait (for the claim lock of a type), and a
		// writer that has entered an epoch holds back that epoch's sync.
		var end func(bool)
		if begin != nil {
			end = begin()
		}
		syncer := s.syncer
		if !durable {
			syncer = nil
		}
		var epoch uint64
		if syncer != nil {
			epoch = syncer.enter()
		}
		t := &tx{Txn: s.db.NewTransaction(true), valueThreshold: s.valueThreshold}
		wrote, err := fn(t)
		if err == nil && wrote {
			if t.valueLog && s.logs != nil {
				s.logs.valueLogWritten() // before the commit writes the value: see logSync
			}
			for _, d := range t.dispatched {
				s.pending.add(d.typ) // before the commit: see pendingTypes
			}
			err = t.Commit()
		}
		t.Discard()
		committed := err == nil && wrote
		if committed {
			for _, d := range t.dispatched {
				s.floors.report(d.typ, d.key)
			}
			if fn := store.Committed(ctx); fn != nil && report {
				fn()
			}
		}
		if end != nil {
			end(err == nil)
		}
		if syncer != nil {
			if serr := syncer.leave(epoch, committed); serr != nil {
				return serr
			}
		}
		if committed && !start.IsZero() {
			s.onCommit(time.Since(start))
		}
		switch {
		case errors.Is(err, badger.ErrConflict) && attempt < maxTxnAttempts:
			runtime.Gosched()
			continue
		case errors.Is(err, badger.ErrTxnTooBig):
			// Badger's limits (db.go): 15% of a memtable, in bytes and in
			// keys each counted as its largest skiplist node.
			maxBytes := s.db.Opts().MemTableSize * 15 / 100
			maxKeys := maxBytes / int64(skl.MaxNodeSize)
			return fmt.Errorf("%w: too many changes in one call: one transaction holds at most %d bytes or %d keys of tasks and index entries, a new task is %d keys (about %d small tasks): split it",
				shared.ErrInvalidArgument, maxBytes, maxKeys, keysPerNewTask, maxKeys/int64(keysPerNewTask))
		}
		return err
	}
}

// Set is badger.Txn.Set, noting values bound for the value log.
func (t *tx) Set(key, val []byte) error {
	if int64(len(val)) >= t.valueThreshold {
		t.valueLog = true
	}
	return t.Txn.Set(key, val)
}

// getRecord reads the task id; shared.ErrNotFound if there is none.
func getRecord(txn *badger.Txn, id string) (*store.Record, error) {
	item, err := txn.Get(recordKey(id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("task %s: %w", id, shared.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	// decodeRecord keeps Payload and Result in the buffer, which outlives
	// the transaction: copy it out of Badger.
	v, err := item.ValueCopy(nil)
	if err != nil {
		return nil, err
	}
	r, err := decodeRecord(v)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", id, err)
	}
	return r, nil
}

// put writes r and its index entries; old is the stored version of r or
// nil. Only index keys that differ are deleted and set.
func (t *tx) put(old, r *store.Record) error {
	if err := t.Set(recordKey(r.ID), appendRecord(nil, r)); err != nil {
		return err
	}
	var oldKeys [numSlots][]byte
	if old != nil {
		oldKeys = indexKeys(old)
	}
	newKeys := indexKeys(r)
	for i := range numSlots {
		var val []byte // index entries have none, but processing's
		if i == slotProcessing && newKeys[i] != nil {
			val = processingValue(r)
		}
		same := bytes.Equal(oldKeys[i], newKeys[i])
		if same && (val == nil || bytes.Equal(val, processingValue(old))) {
			continue
		}
		if oldKeys[i] != nil && !same {
			if err := t.Delete(oldKeys[i]); err != nil {
				return err
			}
		}
		if newKeys[i] != nil {
			if err := t.Set(newKeys[i], val); err != nil {
				return err
			}
			if i == slotDispatch {
				t.dispatched = append(t.dispatched, dispatched{typ: r.Type, key: newKeys[i]})
			}
		}
	}
	return nil
}

// remove deletes old and its index entries.
func (t *tx) remove(old *store.Record) error {
	if err := t.Delete(recordKey(old.ID)); err != nil {
		return err
	}
	for _, k := range indexKeys(old) {
		if k != nil {
			if err := t.Delete(k); err != nil {
				return err
			}
		}
	}
	return nil
}

// validate refuses a record the keys cannot hold.
func validate(r *store.Record) error {
	switch {
	case r == nil:
		return fmt.Errorf("%w: nil task", shared.ErrInvalidArgument)
	case r.ID == "" || len(r.ID) > MaxStringLen:
		return fmt.Errorf("%w: task id must have 1 to %d bytes", shared.ErrInvalidArgument, MaxStringLen)
	case r.Type == "" || len(r.Type) > MaxStringLen:
		return fmt.Errorf("%w: task %s: type must have 1 to %d bytes", shared.ErrInvalidArgument, r.ID, MaxStringLen)
	case len(r.LeaseOwner) > MaxStringLen:
		return fmt.Errorf("%w: task %s: lease owner longer than %d bytes", shared.ErrInvalidArgument, r.ID, MaxStringLen)
	case !r.Status.Valid():
		return fmt.Errorf("%w: task %s: status %q", shared.ErrInvalidArgument, r.ID, r.Status)
	}
	return nil
}

// Create stores new tasks in one transaction.
func (s *Store) Create(ctx context.Context, tasks ...*store.Record) error {
	if len(tasks) == 0 {
		return nil
	}
	if err := store.CheckNew(tasks, validate); err != nil {
		return fmt.Errorf("create tasks: %w", err)
	}
	err := s.write(ctx, func(txn *tx) (bool, error) {
		for _, r := range tasks {
			_, err := txn.Get(recordKey(r.ID))
			if err == nil {
				return false, fmt.Errorf("%w: task %s %w", shared.ErrInvalidArgument, r.ID, store.ErrExists)
			}
			if !errors.Is(err, badger.ErrKeyNotFound) {
				return false, err
			}
			if err := txn.put(nil, r); err != nil {
				return false, err
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("create tasks: %w", err)
	}
	return nil
}

// Get returns the task id.
func (s *Store) Get(ctx context.Context, id string) (*store.Record, error) {
	var r *store.Record
	err := s.view(ctx, func(txn *badger.Txn) error {
		var err error
		r, err = getRecord(txn, id)
		return err
	})
	switch {
	case errors.Is(err, shared.ErrNotFound):
		return nil, err // "task <id>: not found" says it all
	case err != nil:
		return nil, fmt.Errorf("get task: %w", err)
	}
	return r, nil
}

// Claim takes the first dispatch entries of typ at or after the type's
// claim floor (floors.go), in one transaction. Claims of one type are
// serialised in the process; a concurrent Update or Delete of a claimed
// task makes Badger fail one of the commits with a conflict, and the
// claim is retried.
func (s *Store) Claim(ctx context.Context, typ string, now time.Time, owner string, leaseUntil time.Time, limit int) ([]*store.Record, error) {
	if len(typ) > MaxStringLen || len(owner) > MaxStringLen {
		return nil, fmt.Errorf("claim tasks: %w: type or owner longer than %d bytes", shared.ErrInvalidArgument, MaxStringLen)
	}
	if limit < 1 {
		return nil, fmt.Errorf("claim tasks: %w: limit %d, want 1 or more", shared.ErrInvalidArgument, limit)
	}
	limit = min(limit, maxClaim)
	prefix := dispatchPrefix(typ)
	var (
		claimed []*store.Record
		floor   []byte // where this attempt scans from
		next    []byte // the first live dispatch key it left in place
	)
	begin := func() func(ok bool) {
		unlock := s.floors.lock(typ)
		r, f := s.floors.begin(typ)
		floor, next = f, nil
		return func(ok bool) {
			s.floors.end(r, next, ok)
			unlock()
		}
	}
	// Not durable: a claim lost in a crash leaves the task pending, which
	// is what recovery makes of an interrupted claim anyway.
	err := s.writeWith(ctx, false, true, begin, func(txn *tx) (bool, error) {
		claimed = claimed[:0]
		var due []string
		var err error
		due, next, err = dueKeys(txn.Txn, prefix, floor, timeKey(now), limit)
		if len(due) == 0 || err != nil {
			return false, err
		}
		for _, id := range due {
			r, err := getRecord(txn.Txn, id)
			if err != nil {
				return false, fmt.Errorf("dispatch index: %w", err)
			}
			if r.Status != shared.StatusPending {
				return false, fmt.Errorf("dispatch index: task %s is %s", r.ID, r.Status)
			}
			old := *r
			r.Status = shared.StatusProcessing
			r.Attempts++
			r.DateModified = now
			r.LeaseOwner = owner
			r.LeaseUntil = leaseUntil
			if err := txn.put(&old, r); err != nil {
				return false, err
			}
			claimed = append(claimed, r)
		}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim tasks: %w", err)
	}
	return claimed, nil
}

// maxClaim caps the tasks one Claim takes, to keep its transaction well
// below Badger's size limit.
const maxClaim = 256

// dueKeys reads, from the dispatch keys with prefix at or after from (the
// start of prefix when nil), the ids of the first keys due at or before
// now, at most limit of them, and a copy of the first key it did not take
// (nil when there is none).
func dueKeys(txn *badger.Txn, prefix, from []byte, now uint64, limit int) (ids []string, next []byte, err error) {
	if from == nil {
		from = prefix
	}
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	for it.Seek(from); it.ValidForPrefix(prefix); it.Next() {
		key := it.Item().KeyCopy(nil)
		if len(ids) == limit {
			return ids, key, nil
		}
		p, err := decodeKey(key)
		if err != nil {
			return nil, nil, fmt.Errorf("dispatch index: %w", err)
		}
		if p.Time > now {
			return ids, key, nil
		}
		ids = append(ids, p.ID)
	}
	return ids, nil, nil
}

// firstKey returns a copy of the first key with prefix at or after from
// (the start of prefix when from is nil), or nil if there is none.
func firstKey(txn *badger.Txn, prefix, from []byte) ([]byte, error) {
	if from == nil {
		from = prefix
	}
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	it.Seek(from)
	if !it.ValidForPrefix(prefix) {
		return nil, nil
	}
	return it.Item().KeyCopy(nil), nil
}

// NextDue reads the due time from the first dispatch key of typ at or
// after the type's claim floor.
func (s *Store) NextDue(ctx context.Context, typ string) (time.Time, bool, error) {
	if len(typ) > MaxStringLen {
		return time.Time{}, false, nil
	}
	var key []byte
	err := s.view(ctx, func(txn *badger.Txn) error {
		var err error
		key, err = firstKey(txn, dispatchPrefix(typ), s.floors.start(typ))
		return err
	})
	if err != nil || key == nil {
		if err != nil {
			err = fmt.Errorf("next due: %w", err)
		}
		return time.Time{}, false, err
	}
	p, err := decodeKey(key)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next due: dispatch index: %w", err)
	}
	return keyTime(p.Time), true, nil
}

// Update replaces the task if its stored status is from (and, from
// processing, its attempts are rec's: store.CheckUpdate).
func (s *Store) Update(ctx context.Context, rec *store.Record, from shared.Status) error {
	if err := validate(rec); err != nil {
		return fmt.Errorf("update task: %w", err)
	}
	err := s.change(ctx, func(txn *tx) (bool, error) {
		old, err := getRecord(txn.Txn, rec.ID)
		if err != nil {
			return false, err
		}
		if err := store.CheckUpdate(rec.ID, old.Status, old.Attempts, rec, from); err != nil {
			return false, err
		}
		return true, txn.put(old, rec)
	})
	if err != nil {
		return fmt.Errorf("update task: %w", err)
	}
	return nil
}

// Delete removes the task if its status is one of from.
func (s *Store) Delete(ctx context.Context, id string, from ...shared.Status) error {
	err := s.change(ctx, func(txn *tx) (bool, error) {
		old, err := getRecord(txn.Txn, id)
		if err != nil {
			return false, err
		}
		if len(from) > 0 && !slices.Contains(from, old.Status) {
			return false, fmt.Errorf("task %s is %s: %w", id, old.Status, store.ErrConflict)
		}
		return true, txn.remove(old)
	})
	if err != nil {
		return fmt.Errorf("delete task: %w", err)
	}
	return nil
}

// Query walks the index that serves q's filter and sort from the cursor's
// key on, and reads the records the entries name in the same snapshot.
// Several ranges of the indexes may serve q (queryRanges): a status each,
// and for pending tasks without a type filter a type each; their keys are
// merged. Processing tasks are in no status index: where q's range can
// hold their keys, it makes them from the processing records and merges
// them in.
func (s *Store) Query(ctx context.Context, q store.Query) (store.Page, error) {
	q, limit, err := q.Check()
	switch {
	case err != nil:
		return store.Page{}, fmt.Errorf("query tasks: %w", err)
	case len(q.Type) > MaxStringLen:
		return store.Page{}, nil // no such type can be stored
	}
	prefix, fixed := queryPrefix(&q)
	var after []byte
	if q.Cursor != "" {
		if after, err = decodeCursor(q.Cursor, prefix, fixed); err != nil {
			return store.Page{}, err // the caller's mistake, said once
		}
	}
	unindexed := unindexedPrefix(&q, prefix)
	if unindexed != nil && !reaches(after, unindexed, q.Desc) {
		unindexed = nil // the cursor is past them
	}
	var page store.Page
	err = s.view(ctx, func(txn *badger.Txn) error {
		page = store.Page{}
		// In the snapshot, after it was taken: see pendingTypes.
		ranges := queryRanges(&q, prefix, s.pending.list())
		it := txn.NewIterator(badger.IteratorOptions{Reverse: q.Desc})
		defer it.Close()
		// The first limit+1 keys after the cursor of all ranges, then
		// the processing tasks' keys: the page is the first limit of
		// them all in q's order, and one more means there is a next. A
		// range is read until its keys pass the (limit+1)th key of the
		// ranges before it, so that merging many ranges reads little
		// more than one.
		var keys [][]byte
		for _, r := range ranges {
			var cutoff []byte
			if len(keys) > limit {
				cutoff = keys[limit]
			}
			var err error
			if keys, err = scanRange(keys, it, r, after, cutoff, q.Desc, len(prefix)+fixed, limit+1); err != nil {
				return err
			}
			sortKeys(keys, q.Desc)
			keys = keys[:min(len(keys), limit+1)]
		}
		// A page of a single range that ends before where processing
		// tasks would be needs none of them.
		if unindexed != nil && (len(ranges) > 1 || len(keys) <= limit || within(keys[limit], unindexed, prefixEnd(unindexed), q.Desc)) {
			extra, err := processingKeys(txn, prefix[0], unindexed, after, q.Desc, limit+1)
			if err != nil {
				return err
			}
			keys = append(keys, extra...)
			sortKeys(keys, q.Desc)
		}
		if len(keys) > limit {
			keys = keys[:limit]
			page.Cursor = encodeCursor(keys[limit-1])
		}
		page.Tasks = make([]*store.Record, 0, len(keys))
		for _, key := range keys {
			r, err := getRecord(txn, string(key[len(prefix)+fixed:]))
			if err != nil {
				return fmt.Errorf("query index: %w", err)
			}
			page.Tasks = append(page.Tasks, r)
		}
		return nil
	})
	if err != nil {
		return store.Page{}, fmt.Errorf("query tasks: %w", err)
	}
	return page, nil
}

// scanRange appends to dst the first n keys of range r after the cursor
// key after (nil: from the start) and before cutoff (nil: none) in the
// given direction, as keys of the query's order (r.order in place of
// r.stored). A key must have more than minLen bytes, counted with r.order.
func scanRange(dst [][]byte, it *badger.Iterator, r queryRange, after, cutoff []byte, desc bool, minLen, n int) ([][]byte, error) {
	var from []byte // the cursor's key in r; nil: r from its start
	switch {
	case after == nil:
	case bytes.HasPrefix(after, r.order):
		from = append(bytes.Clone(r.stored), after[len(r.order):]...)
	case (bytes.Compare(after, r.order) < 0) == desc:
		return dst, nil // the cursor is past all of r
	}
	if !desc {
		if from != nil {
			it.Seek(append(from, 0)) // the smallest key after the cursor's
		} else {
			it.Seek(r.stored)
		}
	} else {
		// A reverse Seek lands on the largest key <= its argument: skip
		// that key itself (the cursor's, or the one just past r).
		if from == nil {
			from = prefixEnd(r.stored)
		}
		it.Seek(from)
		if it.Valid() && bytes.Compare(it.Item().Key(), from) >= 0 {
			it.Next()
		}
	}
	for ; n > 0 && it.ValidForPrefix(r.stored); it.Next() {
		key := it.Item().Key()
		if len(key)-len(r.stored)+len(r.order) <= minLen {
			return nil, fmt.Errorf("index key %x: %w", key, errBadKey)
		}
		k := append(bytes.Clone(r.order), key[len(r.stored):]...)
		if cutoff != nil && inOrder(desc)(k, cutoff) > 0 {
			break
		}
		dst = append(dst, k)
		n--
	}
	return dst, nil
}

// inOrder compares two keys in a query's order.
func inOrder(desc bool) func(a, b []byte) int {
	if desc {
		return func(a, b []byte) int { return bytes.Compare(b, a) }
	}
	return bytes.Compare
}

// sortKeys puts keys in a query's order.
func sortKeys(keys [][]byte, desc bool) {
	slices.SortFunc(keys, inOrder(desc))
}

// reaches reports whether a page that starts after the cursor key after
// (nil: at the start) in the given direction can meet keys with prefix.
func reaches(after, prefix []byte, desc bool) bool {
	switch {
	case after == nil:
		return true
	case desc:
		return bytes.Compare(after, prefix) > 0
	}
	end := prefixEnd(prefix)
	return end == nil || bytes.Compare(after, end) < 0
}

// within reports whether key is at or past the start of the keys from
// start to end (prefixEnd of their prefix), going in the given direction.
func within(key, start, end []byte, desc bool) bool {
	if !desc {
		return bytes.Compare(key, start) >= 0
	}
	return end == nil || bytes.Compare(key, end) < 0
}

// processingKeys makes the keys the processing tasks would have in the
// query index space and returns the first n of those with prefix and
// after the cursor key after (when not nil) in q's direction, in that
// order.
func processingKeys(txn *badger.Txn, space byte, prefix, after []byte, desc bool, n int) ([][]byte, error) {
	cmp := inOrder(desc)
	before := func(a, b []byte) bool { return cmp(a, b) < 0 }
	var keys [][]byte // sorted, at most n
	var buf []byte
	err := processingTasks(txn, func(pt *processingTask) {
		p := pt.keyParts(space)
		buf = appendKey(buf[:0], &p)
		if !bytes.HasPrefix(buf, prefix) || (after != nil && !before(after, buf)) {
			return
		}
		if len(keys) == n && !before(buf, keys[n-1]) {
			return
		}
		i, _ := slices.BinarySearchFunc(keys, buf, func(k, t []byte) int {
			if before(k, t) {
				return -1
			}
			return 1
		})
		if len(keys) == n {
			keys = keys[:n-1]
		}
		keys = slices.Insert(keys, i, bytes.Clone(buf))
	})
	return keys, err
}

// processingTasks calls fn with every entry of the processing index.
func processingTasks(txn *badger.Txn, fn func(*processingTask)) error {
	prefix := []byte{prefixProcessing}
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		item := it.Item()
		err := item.Value(func(val []byte) error {
			pt, err := decodeProcessing(item.Key(), val)
			if err == nil {
				fn(&pt)
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("processing index: %w", err)
		}
	}
	return nil
}

// processingRecords reads the records the processing index names under
// prefix: all processing tasks, or an owner's (processingPrefix).
func processingRecords(txn *badger.Txn, prefix []byte) ([]*store.Record, error) {
	var recs []*store.Record
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		p, err := decodeKey(it.Item().Key())
		if err != nil {
			return nil, fmt.Errorf("processing index: %w", err)
		}
		r, err := getRecord(txn, p.ID)
		if err != nil {
			return nil, fmt.Errorf("processing index: %w", err)
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// Processing lists the processing index of owner.
func (s *Store) Processing(ctx context.Context, owner string) ([]*store.Record, error) {
	if len(owner) > MaxStringLen {
		return nil, nil
	}
	var recs []*store.Record
	err := s.view(ctx, func(txn *badger.Txn) error {
		var err error
		recs, err = processingRecords(txn, processingPrefix(owner))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("processing tasks: %w", err)
	}
	return recs, nil
}

// Sweep walks the retention index from its start (the earliest
// retain-until) up to now, in transactions of sweepBatch tasks.
func (s *Store) Sweep(ctx context.Context, now time.Time, limit int) (int, error) {
	prefix := []byte{prefixRetention}
	end := timeKey(now)
	removed, err := store.SweepBatches(limit, sweepBatch, func(batch int) (int, error) {
		n := 0
		err := s.write(ctx, func(txn *tx) (bool, error) {
			n = 0
			var ids []string
			it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
			for it.Seek(prefix); it.ValidForPrefix(prefix) && len(ids) < batch; it.Next() {
				p, err := decodeKey(it.Item().Key())
				if err != nil {
					it.Close()
					return false, fmt.Errorf("retention index: %w", err)
				}
				if p.Time >= end {
					break
				}
				ids = append(ids, p.ID)
			}
			it.Close()
			for _, id := range ids {
				r, err := getRecord(txn.Txn, id)
				if err != nil {
					return false, fmt.Errorf("retention index: %w", err)
				}
				if err := txn.remove(r); err != nil {
					return false, err
				}
			}
			n = len(ids)
			return n > 0, nil
		})
		return n, err
	})
	if err != nil {
		return removed, fmt.Errorf("sweep tasks: %w", err)
	}
	return removed, nil
}
