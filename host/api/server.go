package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// Engine is what the server needs of the task engine.
type Engine interface {
	Create(ctx context.Context, typ string, payload json.RawMessage, opts host.CreateOptions) (string, error)
	CreateMany(ctx context.Context, tasks []host.NewTask) ([]string, error)
	Get(ctx context.Context, id string) (shared.Task, error)
	Retry(ctx context.Context, id string) error
	Remove(ctx context.Context, id string) error
	Cancel(ctx context.Context, id string) error
	Query(ctx context.Context, q host.Query) (host.Page, error)
	Handlers() []host.HandlerInfo
	HasHandler(typ string) bool
	Nodes(ctx context.Context) ([]host.Node, error)
	Watch(ctx context.Context, id string) (<-chan shared.Task, error)
	CreateWatch(ctx context.Context, typ string, payload json.RawMessage, opts host.CreateOptions) (string, <-chan shared.Task, error)
	Subscribe(ctx context.Context) *host.Changes
	Activity() host.Activity
}

var _ Engine = (*host.Host)(nil)

// ScheduleSource lists the scheduled tasks for GET /v1/schedules: the
// trigger rules of each, by id, with their next trigger and last run. A
// *scheduler.Scheduler is one.
type ScheduleSource interface {
	TasksInfo(ctx context.Context) (shared.ScheduledTasksInfo, error)
}

// Defaults of [ServerOptions].
const (
	DefaultKeepAlive = 15 * time.Second
	// bodyOverhead is what a request body may hold besides the payload.
	bodyOverhead = 64 << 10
)

// ServerOptions configure a [Server]. Zero values take the defaults.
type ServerOptions struct {
	// MaxPayloadSize bounds a task's payload in bytes (413 beyond it); a
	// request body, a batch's included, may be 64 KiB larger. 0 means
	// host.DefaultMaxPayloadSize (1 MiB).
	MaxPayloadSize int
	// Schedules answers GET /v1/schedules; nil answers {"tasks":{}}.
	Schedules ScheduleSource
	// KeepAlive is how often an idle event stream gets a comment line, so
	// proxies keep it open; 0 means DefaultKeepAlive.
	KeepAlive time.Duration
	// Logger receives errors the client is not to blame for; nil discards.
	Logger hclog.Logger
	// Metrics serves GET /metrics (host/metrics' Handler, in the
	// Prometheus text format); nil leaves the route out (404).
	Metrics http.Handler
	// Token, when set, is the API token: every request but GET /healthz
	// must send "Authorization: Bearer <Token>" (401 otherwise).
	Token string
	// AllowedHosts are Host header names served besides localhost,
	// 127.0.0.1, [::1] and the address a request came in on, all with the
	// port it came in on (403 otherwise, against DNS rebinding): "name"
	// with any port, "name:port" with that one, "*" any Host at all.
	AllowedHosts []string
	// AllowedOrigins are the browser origins ("https://ops.example:8443")
	// whose pages may call the API besides the host's own (403 otherwise);
	// they get CORS headers.
	AllowedOrigins []string
	// Counts answers GET /v1/counts from a snapshot it refreshes in the
	// background (counts.go); nil leaves the route out (404). A
	// *badgerstore.Store or *pgstore.Store is one.
	Counts Counter
	// UI, when set, serves the web dashboard under /ui/ (and / redirects
	// there): the Host and Origin checks apply, the token does not, since
	// its pages carry no secret and must load to ask for the token; the
	// API calls they make need it as any other.
	UI http.Handler
	// UIReadOnly refuses every request that changes something when it
	// comes from the dashboard (see fromUI) with 403.
	UIReadOnly bool
}

// Server serves an [Engine] over HTTP. Use [Server.Handler] with an
// http.Server, and call [Server.Close] when that shuts down (e.g. through
// http.Server.RegisterOnShutdown) so open event streams end.
type Server struct {
	engine    Engine
	opts      ServerOptions
	bodyLimit int64
	log       hclog.Logger
	mux       *http.ServeMux

	closeOnce sync.Once
	done      chan struct{}
	draining  atomic.Bool
	counts    *countCache // nil without opts.Counts
}

// NewServer returns a server of engine.
func NewServer(engine Engine, opts ServerOptions) *Server {
	if opts.MaxPayloadSize <= 0 {
		opts.MaxPayloadSize = host.DefaultMaxPayloadSize
	}
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = DefaultKeepAlive
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	s := &Server{
		engine:    engine,
		opts:      opts,
		bodyLimit: int64(opts.MaxPayloadSize) + bodyOverhead,
		log:       opts.Logger,
		mux:       http.NewServeMux(),
		done:      make(chan struct{}),
	}
	s.handle("POST /v1/tasks", s.create)
	s.handle("POST /v1/tasks/batch", s.createMany)
	s.handle("GET /v1/tasks", s.list)
	s.handle("GET /v1/tasks/{id}", s.get)
	s.handle("DELETE /v1/tasks/{id}", s.remove)
	s.handle("POST /v1/tasks/{id}/retry", s.retry)
	s.handle("POST /v1/tasks/{id}/cancel", s.cancel)
	s.handle("GET /v1/tasks/{id}/events", s.events)
	s.handle("GET /v1/handlers", s.handlers)
	s.handle("GET /v1/schedules", s.schedules)
	s.handle("GET /v1/nodes", s.nodes)
	s.handle("GET /v1/events", s.allEvents)
	s.handle("GET /v1/activity", s.activity)
	s.handle("GET /healthz", s.health)
	if opts.Metrics != nil {
		s.mux.Handle("GET /metrics", opts.Metrics)
	}
	if opts.Counts != nil {
		s.counts = newCountCache(opts.Counts, s.log, s.done)
		s.handle("GET /v1/counts", s.countsNow)
	}
	return s
}

// Handler returns the HTTP handler of every route.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Close ends the open event streams; later ones end at once.
func (s *Server) Close() { s.closeOnce.Do(func() { close(s.done) }) }

// Drain makes the server refuse new tasks (503 Unavailable) while the
// host finishes the running ones; everything else keeps working.
func (s *Server) Drain() { s.draining.Store(true) }

// errDraining is the answer to a create while draining.
var errDraining = &Error{
	Status:  http.StatusServiceUnavailable,
	Name:    ErrorNameUnavailable,
	Message: "the host is shutting down and accepts no new tasks; retry against it once it is back",
}

// authorized reports whether r carries the API token, when there is one.
// The comparison takes the same time whatever the token sent.
func (s *Server) authorized(r *http.Request) bool {
	if s.opts.Token == "" || r.Method == http.MethodGet && r.URL.Path == "/healthz" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.Token)) == 1
}

func (s *Server) handle(pattern string, h func(http.ResponseWriter, *http.Request) error) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.writeError(w, r, fmt.Errorf("panic: %v", v))
		}
	}()
	if err := s.checkHost(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	foreign, err := s.checkOrigin(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if foreign && setCORS(w, r) {
		return
	}
	if s.opts.UI != nil && s.serveUI(w, r) {
		return
	}
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="taskhost"`)
		s.writeError(w, r, &Error{
			Status:  http.StatusUnauthorized,
			Name:    ErrorNameUnauthorized,
			Message: "missing or wrong API token: send Authorization: Bearer <token>",
		})
		return
	}
	if err := checkBody(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.checkReadOnly(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.noRoute(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// noRoute answers a request no pattern matches: 405 when the path exists
// for other methods, 404 otherwise, both in JSON. The mux knows which, so
// let it answer into a recorder and translate.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{header: http.Header{}}
	s.mux.ServeHTTP(rec, r)
	if rec.status == http.StatusMethodNotAllowed {
		allow := rec.header.Get("Allow")
		w.Header().Set("Allow", allow)
		s.writeError(w, r, &Error{
			Status:  http.StatusMethodNotAllowed,
			Name:    ErrorNameMethodNotAllowed,
			Message: fmt.Sprintf("method %s is not allowed on %s: want %s", r.Method, r.URL.Path, allow),
		})
		return
	}
	s.writeError(w, r, &Error{
		Status:  http.StatusNotFound,
		Name:    ErrorNameNotFound,
		Message: fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path),
	})
}

// statusRecorder keeps the status and headers of a response, not its body.
type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header         { return r.header }
func (r *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *statusRecorder) WriteHeader(status int)      { r.status = status }

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := errorOf(err)
	// A 503 is the expected answer while the host drains or stops.
	if e.Status >= http.StatusInternalServerError && e.Status != http.StatusServiceUnavailable {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", e.Status, "error", err)
	} else {
		s.log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "status", e.Status, "error", err)
	}
	s.writeJSON(w, e.Status, ErrorResponse{Error: e})
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		s.log.Error("encode response", "error", err)
		status = http.StatusInternalServerError
		data, _ = json.Marshal(ErrorResponse{Error: &Error{Name: ErrorNameInternal, Message: "encode response: " + err.Error()}})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

// MaxWait bounds the wait parameter of POST /v1/tasks.
const MaxWait = time.Hour

func (s *Server) create(w http.ResponseWriter, r *http.Request) error {
	if s.draining.Load() {
		return errDraining
	}
	wait, err := parseCreateQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	data, err := readBody(w, r, s.bodyLimit)
	if err != nil {
		return err
	}
	var req TaskRequest
	if err := decodeStrict(data, &req, ""); err != nil {
		return err
	}
	if err := checkDuplicateKeys(data); err != nil {
		return err
	}
	t, err := req.newTask(s.opts.MaxPayloadSize, "")
	if err != nil {
		return err
	}
	stream := acceptsEventStream(r)
	if wait == 0 && !stream {
		id, err := s.engine.Create(r.Context(), t.Type, t.Payload, t.Options)
		if err != nil {
			return err
		}
		warning := s.warn(w, t.Type)
		w.Header().Set("Location", "/v1/tasks/"+url.PathEscape(id))
		s.writeJSON(w, http.StatusCreated, CreateResponse{ID: id, Warning: warning})
		return nil
	}
	// The engine watches the task from before it is written, so that a
	// task that ends at once, and is removed at once, is not missed.
	id, ch, err := s.engine.CreateWatch(r.Context(), t.Type, t.Payload, t.Options)
	if err != nil {
		return err
	}
	warning := s.warn(w, t.Type)
	w.Header().Set("Location", "/v1/tasks/"+url.PathEscape(id))
	var timeout <-chan time.Time
	if wait > 0 {
		timer := time.NewTimer(wait)
		defer timer.Stop()
		timeout = timer.C
	}
	if stream {
		s.stream(w, r, http.StatusCreated, ch, timeout)
		return nil
	}
	var last shared.Task
	func() {
		for {
			select {
			case t, ok := <-ch:
				if !ok {
					return
				}
				last = t
			case <-timeout:
				return
			case <-s.done:
				return
			}
		}
	}()
	if last.ID == "" {
		// The channel always starts with the task as created; without it
		// the request itself has ended.
		return r.Context().Err()
	}
	s.writeJSON(w, http.StatusCreated, CreateResponse{ID: id, Warning: warning, Task: &last})
	return nil
}

// warn sets the Warning header of a create of tasks of types when some of
// them have no registered handler, and returns its text ("" when every
// one has one).
func (s *Server) warn(w http.ResponseWriter, types ...string) string {
	var missing []string
	for _, typ := range types {
		if q := strconv.Quote(typ); !slices.Contains(missing, q) && !s.engine.HasHandler(typ) {
			missing = append(missing, q)
		}
	}
	var text string
	switch len(missing) {
	case 0:
		return ""
	case 1:
		text = fmt.Sprintf("no handler is registered for task type %s: the task waits until one registers", missing[0])
	default:
		slices.Sort(missing)
		text = fmt.Sprintf("no handler is registered for task types %s: their tasks wait until one registers", strings.Join(missing, ", "))
	}
	w.Header().Add("Warning", warningHeader(text))
	return text
}

// warningHeader is an RFC 7234 Warning header value of code 299
// (miscellaneous persistent warning) with text.
func warningHeader(text string) string {
	return "299 taskhost " + strconv.Quote(text)
}

// acceptsEventStream reports whether r asks for Server-Sent Events.
func acceptsEventStream(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			mt, _, _ := strings.Cut(part, ";")
			if strings.EqualFold(strings.TrimSpace(mt), "text/event-stream") {
				return true
			}
		}
	}
	return false
}

// parseCreateQuery reads POST /v1/tasks' query string: an optional wait,
// a Go duration from 1ms to MaxWait.
func parseCreateQuery(raw string) (time.Duration, error) {
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return 0, fmt.Errorf("%w: malformed query string: %v", shared.ErrInvalidArgument, err)
	}
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		if k != "wait" {
			return 0, fmt.Errorf("%w: unknown query parameter %q: want wait", shared.ErrInvalidArgument, k)
		}
		if n := len(vals[k]); n > 1 {
			return 0, fmt.Errorf("%w: query parameter wait is given %d times: want it at most once", shared.ErrInvalidArgument, n)
		}
	}
	v := vals.Get("wait")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Millisecond || d > MaxWait {
		return 0, fmt.Errorf("%w: wait %q: want a duration from 1ms to %v, like 30s", shared.ErrInvalidArgument, v, MaxWait)
	}
	return d, nil
}

func (s *Server) createMany(w http.ResponseWriter, r *http.Request) error {
	if s.draining.Load() {
		return errDraining
	}
	data, err := readBody(w, r, s.bodyLimit)
	if err != nil {
		return err
	}
	// Elements are decoded one by one so that errors can name their index.
	var req struct {
		Tasks *[]json.RawMessage `json:"tasks"`
	}
	if err := decodeStrict(data, &req, ""); err != nil {
		return err
	}
	if err := checkDuplicateKeys(data); err != nil {
		return err
	}
	if req.Tasks == nil {
		return fmt.Errorf("%w: field tasks is required: want an array of tasks", shared.ErrInvalidArgument)
	}
	tasks := make([]host.NewTask, len(*req.Tasks))
	for i, raw := range *req.Tasks {
		path := fmt.Sprintf("tasks[%d].", i)
		var tr TaskRequest
		if err := decodeStrict(raw, &tr, path); err != nil {
			return err
		}
		if tasks[i], err = tr.newTask(s.opts.MaxPayloadSize, path); err != nil {
			return err
		}
	}
	ids := []string{}
	if len(tasks) > 0 {
		if ids, err = s.engine.CreateMany(r.Context(), tasks); err != nil {
			return err
		}
	}
	types := make([]string, len(tasks))
	for i, t := range tasks {
		types[i] = t.Type
	}
	s.writeJSON(w, http.StatusCreated, BatchResponse{IDs: ids, Warning: s.warn(w, types...)})
	return nil
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) error {
	t, err := s.engine.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, t)
	return nil
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) error {
	q, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	page, err := s.engine.Query(r.Context(), q)
	if err != nil {
		return err
	}
	data, err := marshalList(page.Tasks, page.Cursor)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
	return nil
}

// marshalList is json.Marshal of ListResponse{tasks, cursor} and a
// newline, without encoding/json's second pass over each task: it
// validates and compacts what a MarshalJSON method returned, which was a
// third of the encoding's CPU in a page of 100 tasks (make bench, scale).
// A task's MarshalJSON is json.Marshal, so its bytes are already compact,
// valid and HTML-escaped.
func marshalList(tasks []shared.Task, cursor string) ([]byte, error) {
	buf := []byte(`{"entities":[`)
	for i := range tasks {
		if i > 0 {
			buf = append(buf, ',')
		}
		t, err := tasks[i].MarshalJSON()
		if err != nil {
			return nil, err
		}
		buf = append(buf, t...)
	}
	buf = append(buf, ']')
	if cursor != "" {
		c, err := json.Marshal(cursor)
		if err != nil {
			return nil, err
		}
		buf = append(append(buf, `,"cursor":`...), c...)
	}
	return append(buf, "}\n"...), nil
}

func (s *Server) remove(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, s.engine.Remove(r.Context(), r.PathValue("id")))
}

func (s *Server) retry(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, s.engine.Retry(r.Context(), r.PathValue("id")))
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, s.engine.Cancel(r.Context(), r.PathValue("id")))
}

func noContent(w http.ResponseWriter, err error) error {
	if err == nil {
		w.WriteHeader(http.StatusNoContent)
	}
	return err
}

func (s *Server) handlers(w http.ResponseWriter, r *http.Request) error {
	resp := HandlersResponse{Handlers: s.engine.Handlers()}
	if resp.Handlers == nil {
		resp.Handlers = []host.HandlerInfo{}
	}
	s.writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) schedules(w http.ResponseWriter, r *http.Request) error {
	var resp SchedulesResponse
	if s.opts.Schedules != nil {
		var err error
		if resp, err = s.opts.Schedules.TasksInfo(r.Context()); err != nil {
			return err
		}
	}
	if resp.Tasks == nil {
		resp.Tasks = map[string][]shared.ScheduledTaskTimeInfo{}
	}
	s.writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) nodes(w http.ResponseWriter, r *http.Request) error {
	nodes, err := s.engine.Nodes(r.Context())
	if err != nil {
		return err
	}
	if nodes == nil {
		nodes = []host.Node{}
	}
	s.writeJSON(w, http.StatusOK, NodesResponse{Nodes: nodes})
	return nil
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	s.writeJSON(w, http.StatusOK, HealthResponse{Status: "ok"})
	return nil
}

// events streams the task's states as Server-Sent Events until it ends.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	ch, err := s.engine.Watch(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	s.stream(w, r, http.StatusOK, ch, nil)
	return nil
}

// stream answers with status and then the task states from ch as
// Server-Sent Events, one "data: <task JSON>" event each, until the
// engine closes ch, timeout fires, the client goes away or the server
// closes.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, status int, ch <-chan shared.Task, timeout <-chan time.Time) {
	rc, ok := s.startStream(w, r, status)
	if !ok {
		return
	}
	keepAlive := time.NewTicker(s.opts.KeepAlive)
	defer keepAlive.Stop()
	for {
		var frame []byte
		select {
		case t, ok := <-ch:
			if !ok {
				return
			}
			data, err := json.Marshal(t)
			if err != nil {
				// Headers are out; all that is left is to end the stream.
				s.log.Error("encode task event", "path", r.URL.Path, "error", err)
				return
			}
			frame = fmt.Appendf(nil, "data: %s\n\n", data)
		case <-keepAlive.C:
			frame = []byte(": keep-alive\n\n")
		case <-timeout:
			return
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
		if _, err := w.Write(frame); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// untilClosed returns ctx, cancelled also once done is closed.
func untilClosed(ctx context.Context, done <-chan struct{}) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// startStream answers with status and the headers of Server-Sent Events;
// ok is false when the client is gone already.
func (s *Server) startStream(w http.ResponseWriter, r *http.Request, status int) (rc *http.ResponseController, ok bool) {
	rc = http.NewResponseController(w)
	// A server-wide write timeout must not cut a long stream.
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(status)
	if err := rc.Flush(); err != nil {
		s.log.Debug("event stream", "path", r.URL.Path, "error", err)
		return nil, false
	}
	return rc, true
}

// allEvents streams every change of every task this host makes as
// Server-Sent Events, one "data: <change JSON>" event each (a
// host.Change: kind and task, the task without payload and result),
// until the client goes away or the server closes. The first event is a
// resync: what the client read before it connected may be stale.
func (s *Server) allEvents(w http.ResponseWriter, r *http.Request) error {
	select {
	case <-s.done:
		return &Error{Status: http.StatusServiceUnavailable, Name: ErrorNameUnavailable, Message: "the server is closing: no new event stream"}
	default:
	}
	ctx, cancel := untilClosed(r.Context(), s.done)
	defer cancel()
	changes := s.engine.Subscribe(ctx)
	rc, ok := s.startStream(w, r, http.StatusOK)
	if !ok {
		return nil
	}
	batch := []host.Change{{Kind: host.ChangeResync}}
	for {
		var frames []byte
		for _, ch := range batch {
			data, err := json.Marshal(ch)
			if err != nil {
				s.log.Error("encode change event", "error", err)
				return nil
			}
			frames = fmt.Appendf(frames, "data: %s\n\n", data)
		}
		if len(batch) == 0 {
			frames = []byte(": keep-alive\n\n")
		}
		if _, err := w.Write(frames); err != nil {
			return nil
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
		wait, done := context.WithTimeout(ctx, s.opts.KeepAlive)
		var err error
		batch, err = changes.Next(wait)
		done()
		if err != nil && ctx.Err() != nil || err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return nil // the client, the server or the subscription ended
		}
	}
}

func (s *Server) activity(w http.ResponseWriter, r *http.Request) error {
	s.writeJSON(w, http.StatusOK, s.engine.Activity())
	return nil
}

func (s *Server) countsNow(w http.ResponseWriter, r *http.Request) error {
	c, err := s.counts.get(r.Context())
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, c)
	return nil
}

// queryParams are the parameters GET /v1/tasks takes.
func queryParams() []string {
	return []string{"type", "status", "sortBy", "order", "cursor", "limit"}
}

// parseQuery reads GET /v1/tasks' query string, refusing unknown or
// repeated parameters and values outside their sets.
func parseQuery(raw string) (host.Query, error) {
	var q host.Query
	invalid := func(format string, args ...any) (host.Query, error) {
		return host.Query{}, fmt.Errorf("%w: "+format, append([]any{shared.ErrInvalidArgument}, args...)...)
	}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return invalid("malformed query string: %v", err)
	}
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		if !slices.Contains(queryParams(), k) {
			return invalid("unknown query parameter %q: want one of %s", k, strings.Join(queryParams(), ", "))
		}
		if n := len(vals[k]); n > 1 {
			return invalid("query parameter %s is given %d times: want it at most once", k, n)
		}
	}
	q.Type = vals.Get("type")
	q.Cursor = vals.Get("cursor")
	if v := vals.Get("status"); v != "" {
		q.Status = shared.Status(v)
		if !q.Status.Valid() {
			return invalid("status %q: want one of %s", v, joinStrings(shared.Statuses()))
		}
	}
	if v := vals.Get("sortBy"); v != "" {
		q.SortBy = store.SortField(v)
		if !q.SortBy.Valid() {
			return invalid("sortBy %q: want one of %s", v, joinStrings(SortFields()))
		}
	}
	switch v := vals.Get("order"); v {
	case "", "asc":
	case "desc":
		q.Desc = true
	default:
		return invalid("order %q: want asc or desc", v)
	}
	if v := vals.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxLimit {
			return invalid("limit %q: want an integer from 1 to %d (default %d)", v, store.MaxLimit, store.DefaultLimit)
		}
		q.Limit = n
	}
	return q, nil
}

// SortFields lists the values of GET /v1/tasks' sortBy parameter.
func SortFields() []store.SortField {
	return []store.SortField{store.SortDateCreated, store.SortDateModified, store.SortDateCompleted, store.SortStatus}
}

func joinStrings[S ~string](vs []S) string {
	ss := make([]string, len(vs))
	for i, v := range vs {
		ss[i] = string(v)
	}
	return strings.Join(ss, ", ")
}
