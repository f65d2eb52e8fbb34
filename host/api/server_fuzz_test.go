package api_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/api"
	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/host/store/badgerstore"
	"github.com/taskhost/taskhost/shared"
)

// The fuzz targets of the request decoding drive the real handler
// in-process over the real engine: a host.Host on Badger in a temporary
// directory, never started and without handlers, so every request is
// validated and stored as in production but nothing runs. What each
// answer must be comes from the documented contract (ARCHITECTURE.md,
// "HTTP API"), read independently of the server's code: never a 5xx;
// errors are {"error":{"name","message"}} with a name that goes with the
// status and a message; a success only for what the contract accepts, and
// then the task stored is the one the request describes.

const (
	// fuzzMaxPayload is small so that fuzzed payloads reach the limit.
	fuzzMaxPayload = 256
	fuzzBodyLimit  = fuzzMaxPayload + 64<<10
	// fuzzTimeout is each request's deadline; a request still running
	// after fuzzHang has hung.
	fuzzTimeout = 10 * time.Second
	fuzzHang    = 20 * time.Second
	// maxMillis is the largest millisecond count a time.Duration holds.
	maxMillis = math.MaxInt64 / int64(time.Millisecond)
)

// fuzzEngine is the real engine and the handler of its server.
type fuzzEngine struct {
	h       *host.Host
	handler http.Handler
	// pending is FuzzTaskID's pending task, kept from run to run while
	// it stays pending (one write fewer each run).
	pending string
}

func setupFuzz(f *testing.F) *fuzzEngine {
	f.Helper()
	st, err := badgerstore.Open(f.TempDir(), badgerstore.Options{})
	require.NoError(f, err)
	f.Cleanup(func() { require.NoError(f, st.Close()) })
	h, err := host.New(st, host.Options{MaxPayloadSize: fuzzMaxPayload})
	require.NoError(f, err)
	srv := api.NewServer(h, api.ServerOptions{MaxPayloadSize: fuzzMaxPayload})
	f.Cleanup(srv.Close)
	return &fuzzEngine{h: h, handler: srv.Handler()}
}

// serve answers req within fuzzHang, with a context that ends after
// fuzzTimeout.
func (e *fuzzEngine) serve(t *testing.T, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), fuzzTimeout)
	defer cancel()
	// As a JSON client of the host on 127.0.0.1:7474 sends it.
	ctx = context.WithValue(ctx, http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7474})
	req = req.WithContext(ctx)
	req.Host = "127.0.0.1:7474"
	if req.ContentLength != 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.handler.ServeHTTP(rec, req)
	}()
	select {
	case <-done:
	case <-time.After(fuzzHang):
		t.Fatalf("%s %q: no answer after %v", req.Method, req.URL, fuzzHang)
	}
	return rec
}

// errorNames is the error name that goes with each client-error status.
var errorNames = map[int]string{
	http.StatusBadRequest:            api.ErrorNameInvalidArgument,
	http.StatusNotFound:              api.ErrorNameNotFound,
	http.StatusMethodNotAllowed:      api.ErrorNameMethodNotAllowed,
	http.StatusConflict:              api.ErrorNameInvalidState,
	http.StatusRequestEntityTooLarge: api.ErrorNamePayloadTooLarge,
}

// requireErrorAnswer checks that rec is an error answer with one of
// statuses and returns its message.
func requireErrorAnswer(t *testing.T, rec *httptest.ResponseRecorder, statuses ...int) string {
	t.Helper()
	body := rec.Body.Bytes()
	require.Contains(t, statuses, rec.Code, "body: %s", body)
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"), "body: %s", body)
	var resp map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &resp), "body: %s", body)
	require.Equal(t, []string{"error"}, slices.Sorted(maps.Keys(resp)), "body: %s", body)
	var e map[string]string
	require.NoError(t, json.Unmarshal(resp["error"], &e), "body: %s", body)
	require.Equal(t, []string{"message", "name"}, slices.Sorted(maps.Keys(e)), "body: %s", body)
	require.Equal(t, errorNames[rec.Code], e["name"], "body: %s", body)
	require.NotEmpty(t, strings.TrimSpace(e["message"]), "body: %s", body)
	return e["message"]
}

// requireJSON decodes a success answer of status into v.
func requireJSON(t *testing.T, rec *httptest.ResponseRecorder, status int, v any) {
	t.Helper()
	require.Equal(t, status, rec.Code, "body: %s", rec.Body)
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	dec := json.NewDecoder(rec.Body)
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(v))
}

// verdict is what the contract says of a request: a 400 is due
// (invalid), a 413 (tooLarge), either when both, or else success.
type verdict struct {
	invalid, tooLarge bool
}

func (v verdict) ok() bool { return !v.invalid && !v.tooLarge }

func (v verdict) statuses() []int {
	var s []int
	if v.invalid {
		s = append(s, http.StatusBadRequest)
	}
	if v.tooLarge {
		s = append(s, http.StatusRequestEntityTooLarge)
	}
	return s
}

// judgeTask reads one task object of POST /v1/tasks or of a batch: a
// JSON object of the documented fields (encoding/json's reading of them,
// so matched without regard to case, the last of repeated keys winning),
// a valid type name, a count and durations in range, a payload within
// the limit, no empty context id key. It returns the task to store.
func judgeTask(data []byte) (verdict, host.NewTask) {
	if !json.Valid(data) || hasDuplicateKey(data) {
		return verdict{invalid: true}, host.NewTask{}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var req api.TaskRequest
	if err := dec.Decode(&req); err != nil {
		return verdict{invalid: true}, host.NewTask{}
	}
	payload := req.Payload
	if string(payload) == "null" {
		payload = nil
	}
	v := verdict{
		invalid: host.ValidateTaskType(req.Type) != nil || req.RetryCount < 0 ||
			req.RetryInterval < 0 || req.RetryInterval > maxMillis ||
			req.RetainFor < -1 || req.RetainFor > maxMillis ||
			hasKey(req.ContextIDs, ""),
		tooLarge: len(payload) > fuzzMaxPayload,
	}
	retainFor := time.Duration(req.RetainFor) * time.Millisecond
	if req.RetainFor == -1 {
		retainFor = host.RetainForever
	}
	return v, host.NewTask{Type: req.Type, Payload: payload, Options: host.CreateOptions{
		RetryCount:    req.RetryCount,
		RetryInterval: time.Duration(req.RetryInterval) * time.Millisecond,
		RetainFor:     retainFor,
		ContextIDs:    req.ContextIDs,
	}}
}

// hasDuplicateKey reports whether valid JSON has an object with a key
// twice, anywhere in it.
func hasDuplicateKey(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return false
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			key, _ := dec.Token()
			var value json.RawMessage
			if dec.Decode(&value) != nil {
				return false
			}
			if seen[key.(string)] || hasDuplicateKey(value) {
				return true
			}
			seen[key.(string)] = true
		}
	case json.Delim('['):
		for dec.More() {
			var value json.RawMessage
			if dec.Decode(&value) != nil {
				return false
			}
			if hasDuplicateKey(value) {
				return true
			}
		}
	}
	return false
}

// requireStored checks that task id is stored as nt describes, then
// removes it so that the store stays small.
func (e *fuzzEngine) requireStored(t *testing.T, id string, nt host.NewTask) {
	t.Helper()
	got, err := e.h.Get(t.Context(), id)
	require.NoError(t, err)
	want := shared.Task{
		ID: id, Type: nt.Type, ThreadID: host.DefaultNodeID, Status: shared.StatusPending,
		DateCreated: got.DateCreated, DateModified: got.DateCreated,
		Payload: nt.Payload, ContextIDs: nt.Options.ContextIDs,
	}
	if o := nt.Options; o.RetryCount > 0 {
		ms := cmp.Or(o.RetryInterval, host.DefaultRetryInterval).Milliseconds()
		want.RetryInterval, want.RetriesRemaining = &ms, &o.RetryCount
	}
	if o := nt.Options; o.RetainFor != 0 {
		ms := int64(-1)
		if o.RetainFor != host.RetainForever {
			ms = o.RetainFor.Milliseconds()
		}
		want.RetainFor = &ms
	}
	require.Equal(t, want, got)
	require.NoError(t, e.h.Remove(t.Context(), id))
}

// taskSeeds are task objects, valid and typically malformed.
var taskSeeds = []string{
	`{"type":"image-resize","payload":{"w":10},"retryCount":3,"retryInterval":1500,"retainFor":-1,"contextIds":{"tenant":"a"}}`,
	`{"type":"t"}`,
	`{"type":"t","payload":null}`,
	`{"type":"t","payload":[1,"2",{"3":null}],"retainFor":60000}`,
	` {"type":"a.b_c:d-e"} ` + "\n",
	`{"TYPE":"t","Payload":1}`,                                   // encoding/json matches names without case
	`{"type":"a","type":"b"}`,                                    // duplicate keys: refused
	`{"type":"t","contextIds":{"k":"v","k":"w"}}`,                // duplicate context id
	`{"type":"t","payload":[{"a":1},{"a":1,"b":{"a":2,"a":3}}]}`, // duplicate deep in the payload
	`{"type":"t","contextIds":{"":"v"}}`,                         // empty context id key
	`{"type":"t","contextIds":{"k":null}}`,                       // null context id
	`{"type":"t","contextIds":null}`,                             // null map
	``,                                                           // empty
	`null`,                                                       // not an object
	`[]`,                                                         // not an object
	`"t"`,                                                        // not an object
	`{"type":"t"`,                                                // truncated
	`{"type":"t",}`,                                              // trailing comma
	`{"type":"t"} {"type":"u"}`,                                  // two objects
	`{"type":"t"}x`,                                              // trailing garbage
	`{"type":1}`,                                                 // wrong type
	`{"type":"t","retryCount":"3"}`,                              // wrong type
	`{"type":"t","retryCount":1.5}`,                              // fraction
	`{"type":"t","retryCount":1e3}`,                              // exponent
	`{"type":"t","retryCount":-1}`,                               // negative
	`{"type":"t","retryCount":99999999999999999999}`,             // overflows int
	`{"type":"t","retryCount":9223372036854775807}`,              // the largest int
	`{"type":"t","retryInterval":-1}`,
	`{"type":"t","retryInterval":9223372036854}`, // maxMillis
	`{"type":"t","retryInterval":9223372036855}`, // maxMillis+1
	`{"type":"t","retainFor":-2}`,
	`{"type":"t","retainFor":9223372036854775807}`,
	`{"type":"t","retainFor":-9223372036854775808}`,
	`{"type":"t","colour":"red"}`, // unknown field
	`{"type":"t","payload":` + strings.Repeat("[", 10_001) + strings.Repeat("]", 10_001) + `}`, // deeper than encoding/json goes
	`{"type":"t","payload":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,       // deep
	`{"type":"t","payload":"` + strings.Repeat("x", fuzzMaxPayload) + `"}`,                     // just too large
	`{"type":"t","payload":"` + strings.Repeat("x", fuzzMaxPayload-2) + `"}`,                   // just within
	`{"type":"` + strings.Repeat("t", 128) + `"}`,                                              // the longest type
	`{"type":"` + strings.Repeat("t", 129) + `"}`,                                              // too long
	`{"type":"bild-größe"}`,                     // unicode
	`{"type":"t","payload":"日本\u0000\ud800"}`,   // unicode, NUL, lone surrogate
	"{\"type\":\"t\x00\"}",                      // raw NUL
	"{\"type\":\"t\",\"payload\":\"\xff\xfe\"}", // invalid UTF-8
	"\xef\xbb\xbf{\"type\":\"t\"}",              // BOM
	`{"type":"-t"}`,                             // bad first character
	`{"type":"a b"}`,                            // space
	`{"type":"../etc/passwd"}`,                  // path
	`{"type":"t","payload":1e999999}`,           // huge number
	`{"type":"t","payload":-0.0e-999999}`,       // tiny number
	`{"type":"t","payload":NaN}`,                // not JSON
}

// FuzzCreateTask fuzzes the body of POST /v1/tasks.
func FuzzCreateTask(f *testing.F) {
	for _, s := range taskSeeds {
		f.Add([]byte(s))
	}
	f.Add(bytes.Repeat([]byte(" "), fuzzBodyLimit+1)) // larger than a body may be
	e := setupFuzz(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := e.serve(t, httptest.NewRequest(http.MethodPost, "/v1/tasks", bytes.NewReader(body)))
		if len(body) > fuzzBodyLimit {
			requireErrorAnswer(t, rec, http.StatusRequestEntityTooLarge)
			return
		}
		v, nt := judgeTask(body)
		if !v.ok() {
			requireErrorAnswer(t, rec, v.statuses()...)
			return
		}
		var resp api.CreateResponse
		requireJSON(t, rec, http.StatusCreated, &resp)
		require.Equal(t, "/v1/tasks/"+resp.ID, rec.Header().Get("Location"))
		e.requireStored(t, resp.ID, nt)
	})
}

// FuzzCreateBatch fuzzes the body of POST /v1/tasks/batch.
func FuzzCreateBatch(f *testing.F) {
	for _, s := range []string{
		`{"tasks":[]}`,
		`{"tasks":null}`,
		`{}`,
		`{"tasks":{}}`,
		`{"tasks":[],"type":"a"}`,
		`{"tasks":[{"type":"a"},null]}`,
		`{"tasks":[{"type":"a"},7]}`,
		`{"tasks":[{"type":"a"}],"tasks":[]}`,
		`{"Tasks":[{"type":"a"}]}`,
		`{"tasks":[{"type":"a"},{"type":"a"},{"type":"b","retryCount":2}]}`,
		`{"tasks":[[{"type":"a"}]]}`,
		`{"tasks":[` + strings.Repeat(`{"type":"a"},`, 30) + `{"type":"a"}]}`,
		`{"tasks":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`,
		`{"tasks":[{"type":"a","payload":"` + strings.Repeat("x", fuzzMaxPayload) + `"},{"type":"-"}]}`,
		`{"tasks":[{"type":"-"},{"type":"a","payload":"` + strings.Repeat("x", fuzzMaxPayload) + `"}]}`,
		`{"tasks":[`,
		`{"tasks":[]}]`,
	} {
		f.Add([]byte(s))
	}
	for _, s := range taskSeeds {
		f.Add([]byte(`{"tasks":[{"type":"a"},` + s + `]}`))
	}
	e := setupFuzz(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := e.serve(t, httptest.NewRequest(http.MethodPost, "/v1/tasks/batch", bytes.NewReader(body)))
		if len(body) > fuzzBodyLimit {
			requireErrorAnswer(t, rec, http.StatusRequestEntityTooLarge)
			return
		}
		v, tasks := judgeBatch(body)
		if !v.ok() {
			requireErrorAnswer(t, rec, v.statuses()...)
			return
		}
		var resp api.BatchResponse
		requireJSON(t, rec, http.StatusCreated, &resp)
		require.Len(t, resp.IDs, len(tasks))
		for i, id := range resp.IDs {
			e.requireStored(t, id, tasks[i])
		}
	})
}

// judgeBatch reads a batch: an object whose only field, tasks, is an
// array of tasks, each as judgeTask reads it.
func judgeBatch(body []byte) (verdict, []host.NewTask) {
	if !json.Valid(body) || hasDuplicateKey(body) {
		return verdict{invalid: true}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var req struct {
		Tasks *[]json.RawMessage `json:"tasks"`
	}
	if err := dec.Decode(&req); err != nil || req.Tasks == nil {
		return verdict{invalid: true}, nil
	}
	var all verdict
	var tasks []host.NewTask
	for _, raw := range *req.Tasks {
		v, nt := judgeTask(raw)
		all.invalid = all.invalid || v.invalid
		all.tooLarge = all.tooLarge || v.tooLarge
		tasks = append(tasks, nt)
	}
	return all, tasks
}

// FuzzListQuery fuzzes the raw query string of GET /v1/tasks over a few
// tasks of three types, pending and cancelled. A page must hold only
// tasks that match the filters, in order, at most limit of them; its
// cursor must fetch the next page.
func FuzzListQuery(f *testing.F) {
	e := setupFuzz(f)
	ctx := context.Background()
	for i, typ := range []string{"alpha", "beta", "alpha", "gamma.x", "beta", "alpha", "alpha"} {
		id, err := e.h.Create(ctx, typ, nil, host.CreateOptions{RetainFor: host.RetainForever})
		require.NoError(f, err)
		if i%3 == 0 {
			require.NoError(f, e.h.Cancel(ctx, id))
		}
	}
	page, err := e.h.Query(ctx, host.Query{Limit: 2})
	require.NoError(f, err)
	for _, s := range []string{
		"",
		"type=alpha&status=pending&sortBy=dateModified&order=desc&limit=2",
		"sortBy=status&limit=1",
		"sortBy=dateCompleted&order=asc",
		"type=alpha&sortBy=status&order=desc&limit=3",
		"limit=2&cursor=" + page.Cursor,
		"limit=2&cursor=" + page.Cursor + "&order=desc",
		"limit=2&cursor=" + page.Cursor + "&sortBy=status", // a cursor of another sort
		"cursor=AAAA", "cursor=%00", "cursor=" + strings.Repeat("_", 400), "cursor=not base64!",
		"status=done", "sortBy=id", "order=up", "order=",
		"limit=0", "limit=-1", "limit=1000", "limit=1001", "limit=+5", "limit=0x10", "limit=99999999999999999999", "limit=1.5", "limit= 1",
		"sort=status", "type=a&type=b", "type=&type=", "Type=a",
		"type=%zz", "type=a;b", "type=a%00", "type=" + strings.Repeat("a", 129), "type=-a", "type=bild-gr%C3%B6%C3%9Fe",
		"type=background-task:ns:x", "type=../../etc", "&&&", "=", "%", "a=1&" + strings.Repeat("&", 100),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest(http.MethodGet, "/v1/tasks", nil)
		req.URL.RawQuery = query
		rec := e.serve(t, req)
		q, vals, valid := judgeQuery(query)
		switch {
		case !valid:
			requireErrorAnswer(t, rec, http.StatusBadRequest)
			return
		case q.Cursor != "" && rec.Code != http.StatusOK:
			// Whether a cursor belongs to this query is the store's to say.
			require.Contains(t, requireErrorAnswer(t, rec, http.StatusBadRequest), "cursor")
			return
		}
		first := requirePage(t, rec, q)
		if first.Cursor == "" {
			return
		}
		vals.Set("cursor", first.Cursor)
		req = httptest.NewRequest(http.MethodGet, "/v1/tasks", nil)
		req.URL.RawQuery = vals.Encode()
		q.Cursor = first.Cursor
		next := requirePage(t, e.serve(t, req), q)
		require.NotEmpty(t, next.Entities, "a cursor is given only when more follow")
		order := taskOrder(q)
		require.Negative(t, order(first.Entities[len(first.Entities)-1], next.Entities[0]), "the next page goes on where the last ended")
	})
}

// judgeQuery reads GET /v1/tasks' query string: the documented
// parameters, each at most once, empty meaning absent, values in their
// sets, limit from 1 to store.MaxLimit.
func judgeQuery(raw string) (host.Query, url.Values, bool) {
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return host.Query{}, nil, false
	}
	for k, vs := range vals {
		if !slices.Contains([]string{"type", "status", "sortBy", "order", "cursor", "limit"}, k) || len(vs) > 1 {
			return host.Query{}, nil, false
		}
	}
	q := host.Query{
		Type:   vals.Get("type"),
		Status: shared.Status(vals.Get("status")),
		SortBy: store.SortField(vals.Get("sortBy")),
		Cursor: vals.Get("cursor"),
		Desc:   vals.Get("order") == "desc",
	}
	if l := vals.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > store.MaxLimit {
			return host.Query{}, nil, false
		}
		q.Limit = n
	}
	valid := (q.Type == "" || host.ValidateTaskType(q.Type) == nil) &&
		(q.Status == "" || q.Status.Valid()) &&
		(q.SortBy == "" || q.SortBy.Valid()) &&
		slices.Contains([]string{"", "asc", "desc"}, vals.Get("order"))
	return q, vals, valid
}

// requirePage checks that rec is a page of q and returns it.
func requirePage(t *testing.T, rec *httptest.ResponseRecorder, q host.Query) api.ListResponse {
	t.Helper()
	var page api.ListResponse
	requireJSON(t, rec, http.StatusOK, &page)
	require.NotNil(t, page.Entities)
	require.LessOrEqual(t, len(page.Entities), cmp.Or(q.Limit, store.DefaultLimit))
	order := taskOrder(q)
	for i, task := range page.Entities {
		if q.Type != "" {
			require.Equal(t, q.Type, task.Type)
		}
		if q.Status != "" {
			require.Equal(t, q.Status, task.Status)
		}
		if i > 0 {
			require.Negative(t, order(page.Entities[i-1], task), "%s before %s", page.Entities[i-1].ID, task.ID)
		}
	}
	if page.Cursor != "" {
		require.NotEmpty(t, page.Entities)
	}
	return page
}

// taskOrder is the documented order of q's sort: ties broken by id;
// status in life-cycle order, then dateCreated; a missing dateCompleted
// after all others; desc reverses it all.
func taskOrder(q host.Query) func(a, b shared.Task) int {
	sortCmp := func(a, b shared.Task) int {
		switch q.SortBy {
		case store.SortDateModified:
			return a.DateModified.Compare(b.DateModified)
		case store.SortDateCompleted:
			switch {
			case a.DateCompleted == nil || b.DateCompleted == nil:
				return cmp.Compare(boolInt(a.DateCompleted == nil), boolInt(b.DateCompleted == nil))
			}
			return a.DateCompleted.Compare(*b.DateCompleted)
		case store.SortStatus:
			return cmp.Or(
				cmp.Compare(slices.Index(shared.Statuses(), a.Status), slices.Index(shared.Statuses(), b.Status)),
				a.DateCreated.Compare(b.DateCreated))
		}
		return a.DateCreated.Compare(b.DateCreated)
	}
	return func(a, b shared.Task) int {
		c := cmp.Or(sortCmp(a, b), cmp.Compare(a.ID, b.ID))
		if q.Desc {
			return -c
		}
		return c
	}
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// idOps are the routes that take a task id, with their success status.
var idOps = []struct {
	method, suffix string
	status         int
}{
	{http.MethodGet, "", http.StatusOK},
	{http.MethodPost, "/cancel", http.StatusNoContent},
	{http.MethodPost, "/retry", http.StatusNoContent},
	{http.MethodDelete, "", http.StatusNoContent},
}

// FuzzTaskID fuzzes the id path segment of GET /v1/tasks/{id}, POST
// /v1/tasks/{id}/cancel and /retry and DELETE /v1/tasks/{id}, op picking
// the route. Each run has a pending task; "$id" in seg stands for its id,
// "$ID" for it in upper case. The segment is sent escaped, as a client
// that escapes ids sends it, so the handler sees seg itself: the forms of
// the contract must reach the task, anything else must be 404. Then,
// when that differs, it is sent as it is: whatever the router makes of
// it, no 5xx and no success for another path.
func FuzzTaskID(f *testing.F) {
	for i, s := range []string{
		"$id", "$ID", "background-task:ns:$id", "background-task:ns:$ID", "background-task::$id",
		"background-task:$id", "background-task:a:b:$id", "urn:background-task:ns:$id", "background-task:ns:",
		"0190f0a8c2b47c4e9a3b5d6e7f809a1b", "0190f0a8-c2b4-7c4e-9a3b-5d6e7f809a1b", "0190F0A8C2B47C4E9A3B5D6E7F809A1",
		"$id/", "$id/cancel", "$id?x=1", "$id#x", "$id ", " $id", "$id\x00", "$id%00", "x$id", "$idx", "$id$id",
		"", ".", "..", "../$id", "$id/..", "../../handlers", "..%2F..%2Fhandlers", "%2e%2e", "a/b", "//", "\\$id",
		"%", "%zz", "%41", "ÿ", "\xff\xfe", "日本", strings.Repeat("a", 5000), "g0190f0a8c2b47c4e9a3b5d6e7f809a1",
	} {
		f.Add(s, uint8(i))
	}
	e := setupFuzz(f)
	f.Fuzz(func(t *testing.T, seg string, op uint8) {
		o := idOps[int(op)%len(idOps)]

		escaped := func(seg string) *url.URL {
			u, err := url.Parse("/v1/tasks/" + url.PathEscape(seg) + o.suffix)
			require.NoError(t, err)
			return u
		}
		id, s := e.pendingTask(t, seg)
		rec := e.sendTo(t, o.method, escaped(s))
		switch {
		case !canonical(escaped(s)) || isRedirect(rec.Code):
			requireRedirectOrError(t, rec)
		case strictID(s) == id:
			requireIDSuccess(t, rec, o.status, id)
		case lenientID(s) == id && rec.Code < 300:
			// Upper case hex, URNs without namespace: accepted too.
			requireIDSuccess(t, rec, o.status, id)
		default:
			requireErrorAnswer(t, rec, http.StatusNotFound)
		}

		// As it is, when it parses as a path at all.
		id, s = e.pendingTask(t, seg)
		if s == url.PathEscape(s) {
			return
		}
		u, err := url.Parse("/v1/tasks/" + s + o.suffix)
		if err != nil {
			return
		}
		rec = e.sendTo(t, o.method, u)
		switch {
		case isRedirect(rec.Code):
			requireRedirectOrError(t, rec)
		case rec.Code >= 200 && rec.Code < 300:
			require.Contains(t, strings.ToLower(u.Path), id, "%s succeeded for another task", u.Path)
		default:
			requireErrorAnswer(t, rec, http.StatusNotFound, http.StatusMethodNotAllowed)
		}
	})
}

// pendingTask returns the id of a pending task, and seg with "$id" and
// "$ID" replaced by it. A task a run cancelled or removed is replaced.
func (e *fuzzEngine) pendingTask(t *testing.T, seg string) (string, string) {
	t.Helper()
	if e.pending != "" {
		task, err := e.h.Get(t.Context(), e.pending)
		switch {
		case errors.Is(err, shared.ErrNotFound):
			e.pending = ""
		case err != nil:
			require.NoError(t, err)
		case task.Status != shared.StatusPending:
			require.NoError(t, e.h.Remove(t.Context(), e.pending))
			e.pending = ""
		}
	}
	if e.pending == "" {
		id, err := e.h.Create(t.Context(), "fuzz", nil, host.CreateOptions{RetainFor: host.RetainForever})
		require.NoError(t, err)
		e.pending = id
	}
	return e.pending, strings.NewReplacer("$id", e.pending, "$ID", strings.ToUpper(e.pending)).Replace(seg)
}

func (e *fuzzEngine) sendTo(t *testing.T, method string, u *url.URL) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, "/", nil)
	req.URL = u
	req.RequestURI = u.RequestURI()
	return e.serve(t, req)
}

// canonical reports whether the router takes u's path as it is; it
// redirects others to their clean form.
func canonical(u *url.URL) bool {
	p := u.EscapedPath()
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c == p
}

func isRedirect(status int) bool {
	return slices.Contains([]int{http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect}, status)
}

// requireRedirectOrError accepts the router's redirect of an unclean
// path or of one with a trailing slash, or an error answer.
func requireRedirectOrError(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if isRedirect(rec.Code) {
		require.NotEmpty(t, rec.Header().Get("Location"))
		return
	}
	requireErrorAnswer(t, rec, http.StatusNotFound, http.StatusMethodNotAllowed)
}

func requireIDSuccess(t *testing.T, rec *httptest.ResponseRecorder, status int, id string) {
	t.Helper()
	if status == http.StatusOK {
		var task shared.Task
		requireJSON(t, rec, status, &task)
		require.Equal(t, id, task.ID)
		return
	}
	require.Equal(t, status, rec.Code, "body: %s", rec.Body)
}

// strictID is the id that s names in the contract's forms: 32 lower-case
// hex digits, or twin's URN background-task:<ns>:<id>; "" if none.
func strictID(s string) string {
	if rest, ok := strings.CutPrefix(s, "background-task:"); ok {
		i := strings.LastIndexByte(rest, ':')
		if i < 0 {
			return ""
		}
		s = rest[i+1:]
	}
	if b, err := hex.DecodeString(s); err != nil || len(b) != 16 || strings.ToLower(s) != s {
		return ""
	}
	return s
}

// lenientID is strictID that also takes upper-case digits and a URN
// without a namespace.
func lenientID(s string) string {
	if rest, ok := strings.CutPrefix(s, "background-task:"); ok {
		s = rest[strings.LastIndexByte(rest, ':')+1:]
	}
	return strictID(strings.ToLower(s))
}
