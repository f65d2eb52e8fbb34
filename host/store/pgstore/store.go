package pgstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// Options configure Open. The zero value uses schema DefaultSchema.
type Options struct {
	// Schema is the PostgreSQL schema that holds the store's tables:
	// "" means DefaultSchema. Lower-case letters, digits and _, starting
	// with a letter or _, at most 63 bytes. Clusters that share a
	// database but not their tasks use different schemas.
	Schema string
	// Logger receives the store's warnings. nil discards them.
	Logger hclog.Logger
	// WorkNotifyInterval is how often at most a create notifies the
	// nodes of its tasks' type (ListenWork): 0 means
	// DefaultWorkNotifyInterval. Creates within the interval are
	// announced together at its end.
	WorkNotifyInterval time.Duration
	// OnCommit, if set, is called after each write that changed
	// something (claims excepted, as in badgerstore), with the time from
	// the call until the commit returned. It must be quick and never
	// block.
	OnCommit func(d time.Duration)
}

// DefaultSchema is the schema of Options.Schema "".
const DefaultSchema = "taskhost"

// defaultConnectTimeout bounds a connection attempt when the URL sets no
// connect_timeout, so that an unreachable server fails Open instead of
// hanging it.
const defaultConnectTimeout = 10 * time.Second

// sweepBatch is how many tasks one statement of Sweep removes.
const sweepBatch = 500

// maxClaim caps the tasks one Claim takes (the contract allows fewer).
const maxClaim = 1000

// Store is the PostgreSQL backend of [store.Store].
type Store struct {
	pool *pgxpool.Pool
	// ordered runs the claims and the reads of an index in order, in
	// planner settings of their own (ordered.go). Claims are the only
	// writes it runs: its commits do not wait for the WAL flush.
	ordered  *pgxpool.Pool
	writes   *store.Batches[write] // Update, Delete and DeleteClaimed (batch.go)
	sql      *statements
	log      hclog.Logger
	onCommit func(time.Duration)
	closed   atomic.Bool
	// channel and finalChannel are the NOTIFY channels of creates and of
	// final states (channelName).
	channel, finalChannel string
	// notices debounces the work notifications of creates (debounce.go).
	notices *debouncer
	// origin tells the final states this store sends from those of others
	// (NotifyFinal): random, made at Open.
	origin string
}

var _ store.Store = (*Store)(nil)

// schemaName is what Options.Schema may be: an identifier that needs no
// quoting and means the same quoted or not.
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// ValidateSchema checks a schema name as Open does.
func ValidateSchema(schema string) error {
	_, err := checkSchema(schema)
	return err
}

// checkSchema returns the schema to use for schema ("" is DefaultSchema).
func checkSchema(schema string) (string, error) {
	if schema == "" {
		return DefaultSchema, nil
	}
	if !schemaName.MatchString(schema) {
		return "", fmt.Errorf("%w: schema %q: want 1 to 63 lower-case letters, digits or _, not starting with a digit", shared.ErrInvalidArgument, schema)
	}
	return schema, nil
}

// poolConfig parses url and points every connection at schema: the
// store's statements name their tables without a schema and rely on
// search_path (see doc.go).
func poolConfig(url, schema string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	return cfg, nil
}

// connect opens the pools on url for schema, the store's and that of
// ordered reads (ordered.go), and checks that the server answers. Its
// errors never contain the password.
func connect(ctx context.Context, url, schema string) (pool, ordered *pgxpool.Pool, err error) {
	cfg, err := poolConfig(url, schema)
	if err != nil {
		return nil, nil, RedactError(err, url)
	}
	pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, RedactError(err, url)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, nil, RedactError(err, url)
	}
	ordered, err = pgxpool.NewWithConfig(ctx, orderedConfig(cfg))
	if err != nil {
		pool.Close()
		return nil, nil, RedactError(err, url)
	}
	return pool, ordered, nil
}

// where is " <url>" (redacted) for an error about url, or nothing when
// the error is that url does not parse: that error quotes it already.
func where(url string, err error) string {
	var parse *pgconn.ParseConfigError
	if errors.As(err, &parse) {
		return ""
	}
	return " " + RedactURL(url)
}

// Open connects to the database at url (a postgres:// URL or keyword/value
// string; pgxpool's pool_* parameters apply), creates the schema if
// needed and applies the migrations it lacks (Migrate).
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	schema, err := checkSchema(opts.Schema)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	pool, ordered, err := connect(ctx, url, schema)
	if err != nil {
		return nil, fmt.Errorf("open store%s: %w", where(url, err), err)
	}
	log := opts.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	s := &Store{pool: pool, ordered: ordered, writes: newWrites(pool), sql: mustStatements(), log: log, onCommit: opts.OnCommit,
		channel: channelName(schema, "work"), finalChannel: channelName(schema, "final"), origin: rand.Text()}
	interval := opts.WorkNotifyInterval
	if interval <= 0 {
		interval = DefaultWorkNotifyInterval
	}
	s.notices = newDebouncer(interval, s.notifyWork)
	conn, err := pool.Acquire(ctx)
	if err == nil {
		_, err = migrate(ctx, conn.Conn(), s.sql, schema, log)
		conn.Release()
	}
	if err != nil {
		s.writes.Close()
		ordered.Close()
		pool.Close()
		return nil, fmt.Errorf("open store %s, schema %s: %w", RedactURL(url), schema, RedactError(err, url))
	}
	return s, nil
}

// Close closes the pools, waiting for calls in flight. Later calls fail
// with shared.ErrClosed. Closing twice is harmless.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.writes.Close()
	s.ordered.Close()
	s.pool.Close()
	return nil
}

// enter refuses calls on a closed store and with a done context.
func (s *Store) enter(ctx context.Context) error {
	if s.closed.Load() {
		return shared.ErrClosed
	}
	return ctx.Err()
}

// wrote reports a write that changed something: the store.WithCommitted
// hook, and OnCommit with the time since start unless start is zero.
func (s *Store) wrote(ctx context.Context, start time.Time) {
	if fn := store.Committed(ctx); fn != nil {
		fn()
	}
	if s.onCommit != nil && !start.IsZero() {
		s.onCommit(time.Since(start))
	}
}

// isUniqueViolation reports a duplicate key.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// Create inserts the tasks in one transaction, one batch.
func (s *Store) Create(ctx context.Context, tasks ...*store.Record) error {
	if len(tasks) == 0 {
		return nil
	}
	if err := store.CheckNew(tasks, validate); err != nil {
		return fmt.Errorf("create tasks: %w", err)
	}
	batch := &pgx.Batch{}
	types := make(map[string]bool)
	for _, r := range tasks {
		args, err := recordArgs(r)
		if err != nil {
			return fmt.Errorf("create tasks: task %s: %w", r.ID, err)
		}
		batch.Queue(s.sql.insertTask, args...)
		types[r.Type] = true
	}
	if err := s.enter(ctx); err != nil {
		return fmt.Errorf("create tasks: %w", err)
	}
	// Sent at commit, to every node listening (ListenWork): one per type,
	// unless debounced (debounce.go).
	notify := 0
	for typ := range types {
		if s.notices.lead(typ) {
			batch.Queue("SELECT pg_notify($1, $2)", s.channel, typ)
			notify++
			delete(types, typ)
		}
	}
	// One round trip: a batch is one implicit transaction, all or none.
	start := time.Now()
	err := func() error {
		results := s.pool.SendBatch(ctx, batch)
		defer results.Close()
		for _, r := range tasks {
			if _, err := results.Exec(); err != nil {
				if isUniqueViolation(err) {
					return fmt.Errorf("%w: task %s %w", shared.ErrInvalidArgument, r.ID, store.ErrExists)
				}
				return err
			}
		}
		for range notify {
			if _, err := results.Exec(); err != nil {
				return fmt.Errorf("notify: %w", err)
			}
		}
		return results.Close()
	}()
	if err != nil {
		return fmt.Errorf("create tasks: %w", err)
	}
	for typ := range types { // those not notified
		s.notices.trail(typ)
	}
	s.wrote(ctx, start)
	return nil
}

// notifyWork sends a work notification of typ on its own, for the
// debouncer; a failure only delays the start until the nodes poll.
func (s *Store) notifyWork(typ string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.enter(ctx); err != nil {
		return
	}
	if _, err := s.pool.Exec(ctx, "SELECT pg_notify($1, $2)", s.channel, typ); err != nil && !s.closed.Load() {
		s.log.Warn("notifying the nodes of new tasks failed: they find them at their next poll", "task_type", typ, "error", err)
	}
}

// Get reads the task id.
func (s *Store) Get(ctx context.Context, id string) (*store.Record, error) {
	if err := s.enter(ctx); err != nil {
		return nil, fmt.Errorf("get task: %w", err)
	}
	if !storable(id) {
		return nil, fmt.Errorf("task %s: %w", id, shared.ErrNotFound)
	}
	rows, _ := s.pool.Query(ctx, s.sql.getTask, id)
	r, err := pgx.CollectExactlyOneRow(rows, scanRecord)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("task %s: %w", id, shared.ErrNotFound) // says it all
	case err != nil:
		return nil, fmt.Errorf("get task: %w", err)
	}
	return r, nil
}

// Claim runs claim_tasks.sql, which reclaims lapsed leases and claims
// due tasks in one statement, with synchronous_commit off: a claim need
// not be durable (store.Store.Claim), and the outcome written later is,
// which flushes the claim's WAL with it. It runs on the ordered pool, in
// its planner settings (ordered.go).
func (s *Store) Claim(ctx context.Context, typ string, now time.Time, owner string, leaseUntil time.Time, limit int) ([]*store.Record, error) {
	if limit < 1 {
		return nil, fmt.Errorf("claim tasks: %w: limit %d, want 1 or more", shared.ErrInvalidArgument, limit)
	}
	if !storable(owner) {
		return nil, fmt.Errorf("claim tasks: %w: owner %q is not UTF-8 without NUL bytes", shared.ErrInvalidArgument, owner)
	}
	if err := s.enter(ctx); err != nil {
		return nil, fmt.Errorf("claim tasks: %w", err)
	}
	if !storable(typ) {
		return nil, nil // no such type can be stored
	}
	rows, _ := s.ordered.Query(ctx, s.sql.claimTasks, typ, now, owner, leaseUntil, min(limit, maxClaim))
	recs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Record, error) {
		var reclaimed bool
		r, err := scanRecordWith(row, &reclaimed)
		if err == nil && reclaimed {
			s.log.Info("reclaimed a task whose lease lapsed", "task_type", r.Type, "task_id", r.ID, "attempt", r.Attempts)
		}
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim tasks: %w", err)
	}
	if len(recs) > 0 {
		s.wrote(ctx, time.Time{})
	}
	return recs, nil
}

// NextDue reads the first entry of the claim index of typ, on the
// ordered pool.
func (s *Store) NextDue(ctx context.Context, typ string) (time.Time, bool, error) {
	if err := s.enter(ctx); err != nil {
		return time.Time{}, false, fmt.Errorf("next due: %w", err)
	}
	if !storable(typ) {
		return time.Time{}, false, nil
	}
	var due *time.Time
	err := s.ordered.QueryRow(ctx, s.sql.nextDue, typ).Scan(&due)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false, fmt.Errorf("next due: %w", err)
	}
	if due == nil {
		return time.Time{}, false, nil
	}
	return due.UTC(), true, nil
}

// Update runs update_task.sql, whose WHERE is store.CheckUpdate; when it
// changes nothing, task_state.sql says why.
func (s *Store) Update(ctx context.Context, rec *store.Record, from shared.Status) error {
	if err := validate(rec); err != nil {
		return fmt.Errorf("update task: %w", err)
	}
	args, err := recordArgs(rec)
	if err != nil {
		return fmt.Errorf("update task %s: %w", rec.ID, err)
	}
	if err := s.enter(ctx); err != nil {
		return fmt.Errorf("update task: %w", err)
	}
	start := time.Now()
	n, err := s.writes.Do(ctx, write{rec.ID, s.sql.updateTask, append(args, string(from))})
	if err != nil {
		return fmt.Errorf("update task: %w", err)
	}
	if n == 1 {
		s.wrote(ctx, start)
		return nil
	}
	status, attempts, err := s.state(ctx, rec.ID)
	if err == nil {
		err = store.CheckUpdate(rec.ID, status, attempts, rec, from)
		if err == nil { // it changed back since the update
			err = fmt.Errorf("task %s: %w", rec.ID, store.ErrConflict)
		}
	}
	return fmt.Errorf("update task: %w", err)
}

// Delete runs delete_task.sql; when it removes nothing, task_state.sql
// says why.
func (s *Store) Delete(ctx context.Context, id string, from ...shared.Status) error {
	if err := s.enter(ctx); err != nil {
		return fmt.Errorf("delete task: %w", err)
	}
	if !storable(id) {
		return fmt.Errorf("delete task: task %s: %w", id, shared.ErrNotFound)
	}
	statuses := make([]string, len(from))
	for i, st := range from {
		if !st.Valid() {
			return fmt.Errorf("delete task: %w: status %q", shared.ErrInvalidArgument, st)
		}
		statuses[i] = string(st)
	}
	start := time.Now()
	n, err := s.writes.Do(ctx, write{id, s.sql.deleteTask, []any{id, statuses}})
	if err != nil {
		return fmt.Errorf("delete task: %w", err)
	}
	if n == 1 {
		s.wrote(ctx, start)
		return nil
	}
	status, _, err := s.state(ctx, id)
	if err == nil {
		err = fmt.Errorf("task %s is %s: %w", id, status, store.ErrConflict)
	}
	return fmt.Errorf("delete task: %w", err)
}

// state reads the status and attempts of task id, to say why a
// conditional write changed nothing; shared.ErrNotFound if it is gone.
func (s *Store) state(ctx context.Context, id string) (shared.Status, int, error) {
	var (
		status   string
		attempts int
	)
	err := s.pool.QueryRow(ctx, s.sql.taskState, id).Scan(&status, &attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", 0, fmt.Errorf("task %s: %w", id, shared.ErrNotFound)
	}
	return shared.Status(status), attempts, err
}

// Processing reads the processing index of owner.
func (s *Store) Processing(ctx context.Context, owner string) ([]*store.Record, error) {
	if err := s.enter(ctx); err != nil {
		return nil, fmt.Errorf("processing tasks: %w", err)
	}
	if !storable(owner) {
		return nil, nil
	}
	rows, _ := s.pool.Query(ctx, s.sql.processing, owner)
	recs, err := pgx.CollectRows(rows, scanRecord)
	if err != nil {
		return nil, fmt.Errorf("processing tasks: %w", err)
	}
	return recs, nil
}

// Sweep deletes expired terminal tasks in statements of up to sweepBatch.
func (s *Store) Sweep(ctx context.Context, now time.Time, limit int) (int, error) {
	removed, err := store.SweepBatches(limit, sweepBatch, func(batch int) (int, error) {
		if err := s.enter(ctx); err != nil {
			return 0, err
		}
		start := time.Now()
		var n int
		if err := s.pool.QueryRow(ctx, s.sql.sweep, now, batch).Scan(&n); err != nil {
			return 0, err
		}
		if n > 0 {
			s.wrote(ctx, start)
		}
		return n, nil
	})
	if err != nil {
		return removed, fmt.Errorf("sweep tasks: %w", err)
	}
	return removed, nil
}

// Counts counts the stored tasks of each type in each of statuses; no
// statuses means all of them. Every type that has a task in any status is
// in the result, with a zero for each asked status it has none in: the
// contract of badgerstore.Store.Counts and host/metrics.QueueCounter.
// counts.sql says what it costs.
func (s *Store) Counts(ctx context.Context, statuses ...shared.Status) (map[string]map[shared.Status]int, error) {
	if len(statuses) == 0 {
		statuses = shared.Statuses()
	}
	names := make([]string, len(statuses))
	for i, st := range statuses {
		if !st.Valid() {
			return nil, fmt.Errorf("count tasks: %w: status %q", shared.ErrInvalidArgument, st)
		}
		names[i] = string(st)
	}
	if err := s.enter(ctx); err != nil {
		return nil, fmt.Errorf("count tasks: %w", err)
	}
	rows, _ := s.pool.Query(ctx, s.sql.counts, names)
	counts := make(map[string]map[shared.Status]int)
	var (
		typ, status string
		n           int
	)
	_, err := pgx.ForEachRow(rows, []any{&typ, &status, &n}, func() error {
		if counts[typ] == nil {
			counts[typ] = make(map[shared.Status]int, len(statuses))
		}
		counts[typ][shared.Status(status)] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count tasks: %w", err)
	}
	return counts, nil
}
