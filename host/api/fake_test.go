package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/api"
	"github.com/taskhost/taskhost/shared"
)

// errUnexpected is what the fake engine answers a call a test did not
// expect; the server must turn it into a 500.
var errUnexpected = errors.New("unexpected call")

// fakeEngine answers each method with the function a test sets, and
// errUnexpected where it set none. It is for the HTTP layer's tests only;
// the engine's behaviour is tested with the real host.
type fakeEngine struct {
	create     func(ctx context.Context, typ string, payload json.RawMessage, opts host.CreateOptions) (string, error)
	createMany func(ctx context.Context, tasks []host.NewTask) ([]string, error)
	get        func(ctx context.Context, id string) (shared.Task, error)
	retry      func(ctx context.Context, id string) error
	remove     func(ctx context.Context, id string) error
	cancel     func(ctx context.Context, id string) error
	query      func(ctx context.Context, q host.Query) (host.Page, error)
	handlers   func() []host.HandlerInfo
	watch      func(ctx context.Context, id string) (<-chan shared.Task, error)
	// createWatch, unset, is errUnexpected; hasHandler, unset, says every
	// type has a handler.
	createWatch func(ctx context.Context, typ string, payload json.RawMessage, opts host.CreateOptions) (string, <-chan shared.Task, error)
	hasHandler  func(typ string) bool
}

var _ api.Engine = (*fakeEngine)(nil)

func (f *fakeEngine) Create(ctx context.Context, typ string, payload json.RawMessage, opts host.CreateOptions) (string, error) {
	if f.create == nil {
		return "", errUnexpected
	}
	return f.create(ctx, typ, payload, opts)
}

func (f *fakeEngine) CreateMany(ctx context.Context, tasks []host.NewTask) ([]string, error) {
	if f.createMany == nil {
		return nil, errUnexpected
	}
	return f.createMany(ctx, tasks)
}

func (f *fakeEngine) Get(ctx context.Context, id string) (shared.Task, error) {
	if f.get == nil {
		return shared.Task{}, errUnexpected
	}
	return f.get(ctx, id)
}

func (f *fakeEngine) Retry(ctx context.Context, id string) error {
	if f.retry == nil {
		return errUnexpected
	}
	return f.retry(ctx, id)
}

func (f *fakeEngine) Remove(ctx context.Context, id string) error {
	if f.remove == nil {
		return errUnexpected
	}
	return f.remove(ctx, id)
}

func (f *fakeEngine) Cancel(ctx context.Context, id string) error {
	if f.cancel == nil {
		return errUnexpected
	}
	return f.cancel(ctx, id)
}

func (f *fakeEngine) Query(ctx context.Context, q host.Query) (host.Page, error) {
	if f.query == nil {
		return host.Page{}, errUnexpected
	}
	return f.query(ctx, q)
}

func (f *fakeEngine) Handlers() []host.HandlerInfo {
	if f.handlers == nil {
		return nil
	}
	return f.handlers()
}

func (f *fakeEngine) Watch(ctx context.Context, id string) (<-chan shared.Task, error) {
	if f.watch == nil {
		return nil, errUnexpected
	}
	return f.watch(ctx, id)
}

func (f *fakeEngine) CreateWatch(ctx context.Context, typ string, payload json.RawMessage, opts host.CreateOptions) (string, <-chan shared.Task, error) {
	if f.createWatch == nil {
		return "", nil, errUnexpected
	}
	return f.createWatch(ctx, typ, payload, opts)
}

func (f *fakeEngine) Nodes(context.Context) ([]host.Node, error) { return nil, errUnexpected }

// Subscribe is for the real host's tests only (e2e_test.go).
func (f *fakeEngine) Subscribe(context.Context) *host.Changes { return nil }

func (f *fakeEngine) Activity() host.Activity { return host.Activity{} }

func (f *fakeEngine) HasHandler(typ string) bool {
	return f.hasHandler == nil || f.hasHandler(typ)
}

// fixture is a real HTTP server on 127.0.0.1 over a fake engine, and a
// real client of it.
type fixture struct {
	server *api.Server
	url    string
	client *api.Client
}

func setup(t *testing.T, engine *fakeEngine, opts api.ServerOptions) *fixture {
	t.Helper()
	srv := api.NewServer(engine, opts)
	ts := httptest.NewServer(srv.Handler())
	// Event streams end before the server waits for its connections.
	t.Cleanup(ts.Close)
	t.Cleanup(srv.Close)
	client, err := api.NewClient(ts.URL)
	require.NoError(t, err)
	return &fixture{server: srv, url: ts.URL, client: client}
}

// rawResponse is an answer read in full.
type rawResponse struct {
	status int
	header http.Header
	body   string
}

// do sends a raw request, so that tests see exactly what goes over the
// wire; a body goes as application/json.
func (f *fixture) do(t *testing.T, method, path, body string) rawResponse {
	t.Helper()
	var headers map[string]string
	if body != "" {
		headers = map[string]string{"Content-Type": "application/json"}
	}
	return f.send(t, method, path, body, headers)
}

// send sends a raw request with the given headers ("Host" sets the Host).
func (f *fixture) send(t *testing.T, method, path, body string, headers map[string]string) rawResponse {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, f.url+path, rd)
	require.NoError(t, err)
	for k, v := range headers {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

// requireError checks that r is a JSON error answer with status and name
// whose message contains each of parts.
func requireError(t *testing.T, r rawResponse, status int, name string, parts ...string) {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.body)
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	var body struct {
		Error map[string]string `json:"error"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.body), &body), "body: %s", r.body)
	require.Len(t, body.Error, 2, "body: %s", r.body)
	require.Equal(t, name, body.Error["name"], "body: %s", r.body)
	for _, p := range parts {
		require.Contains(t, body.Error["message"], p)
	}
}
