package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/api"
)

// guarded serves an engine that creates any task, with opts.
func guarded(t *testing.T, opts api.ServerOptions) *fixture {
	t.Helper()
	return setup(t, &fakeEngine{
		create: func(context.Context, string, json.RawMessage, host.CreateOptions) (string, error) {
			return "0123456789abcdef0123456789abcdef", nil
		},
		handlers: func() []host.HandlerInfo { return nil },
	}, opts)
}

func (f *fixture) port(t *testing.T) string {
	u, err := url.Parse(f.url)
	require.NoError(t, err)
	return u.Port()
}

func TestBodyMustBeJSON(t *testing.T) {
	t.Parallel()
	f := guarded(t, api.ServerOptions{})
	body := `{"type":"t"}`
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "", "application/jsonx"} {
		r := f.send(t, http.MethodPost, "/v1/tasks", body, map[string]string{"Content-Type": ct})
		want := ct
		if ct == "" {
			want = "none"
		}
		requireError(t, r, http.StatusUnsupportedMediaType, api.ErrorNameUnsupportedMediaType, "Content-Type "+want, "want application/json")
	}
	r := f.send(t, http.MethodPost, "/v1/tasks/batch", `{"tasks":[]}`, map[string]string{"Content-Type": "text/plain"})
	requireError(t, r, http.StatusUnsupportedMediaType, api.ErrorNameUnsupportedMediaType)

	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON"} {
		r := f.send(t, http.MethodPost, "/v1/tasks", body, map[string]string{"Content-Type": ct})
		require.Equal(t, http.StatusCreated, r.status, "%s: %s", ct, r.body)
	}
	// Requests without a body need no Content-Type.
	r = f.send(t, http.MethodGet, "/v1/handlers", "", nil)
	require.Equal(t, http.StatusOK, r.status, r.body)
}

func TestOriginMustBeTheHostsOwn(t *testing.T) {
	t.Parallel()
	f := guarded(t, api.ServerOptions{AllowedOrigins: []string{"https://ops.example:8443"}})
	json := map[string]string{"Content-Type": "application/json"}
	with := func(origin string) map[string]string {
		return map[string]string{"Content-Type": "application/json", "Origin": origin}
	}
	for _, origin := range []string{"http://evil.example", "null", "http://127.0.0.1:1", "https://" + strings.TrimPrefix(f.url, "http://"), "https://ops.example"} {
		r := f.send(t, http.MethodPost, "/v1/tasks", `{"type":"t"}`, with(origin))
		requireError(t, r, http.StatusForbidden, api.ErrorNameForbidden, "origin", "allowed_origins")
		r = f.send(t, http.MethodGet, "/v1/handlers", "", map[string]string{"Origin": origin})
		requireError(t, r, http.StatusForbidden, api.ErrorNameForbidden)
		require.Empty(t, r.header.Get("Access-Control-Allow-Origin"))
	}
	// The host's own pages, and clients that send no Origin.
	r := f.send(t, http.MethodPost, "/v1/tasks", `{"type":"t"}`, with(f.url))
	require.Equal(t, http.StatusCreated, r.status, r.body)
	require.Empty(t, r.header.Get("Access-Control-Allow-Origin"), "same origin needs no CORS")
	r = f.send(t, http.MethodPost, "/v1/tasks", `{"type":"t"}`, json)
	require.Equal(t, http.StatusCreated, r.status, r.body)

	// An allowed origin: CORS headers, and its preflight is answered.
	r = f.send(t, http.MethodPost, "/v1/tasks", `{"type":"t"}`, with("https://ops.example:8443"))
	require.Equal(t, http.StatusCreated, r.status, r.body)
	require.Equal(t, "https://ops.example:8443", r.header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, r.header.Get("Access-Control-Expose-Headers"), "Warning")
	r = f.send(t, http.MethodOptions, "/v1/tasks", "", map[string]string{
		"Origin": "https://ops.example:8443", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type",
	})
	require.Equal(t, http.StatusNoContent, r.status, r.body)
	require.Equal(t, "https://ops.example:8443", r.header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, r.header.Get("Access-Control-Allow-Headers"), "Content-Type")
	require.Contains(t, r.header.Get("Access-Control-Allow-Methods"), "POST")
	r = f.send(t, http.MethodOptions, "/v1/tasks", "", map[string]string{"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
	requireError(t, r, http.StatusForbidden, api.ErrorNameForbidden)
}

func TestHostMustNameThisHost(t *testing.T) {
	t.Parallel()
	f := guarded(t, api.ServerOptions{})
	port := f.port(t)
	for _, h := range []string{"attacker.example:" + port, "attacker.example", "localhost:1", "127.0.0.2:" + port, "localhost.attacker.example:" + port} {
		r := f.send(t, http.MethodGet, "/v1/handlers", "", map[string]string{"Host": h})
		requireError(t, r, http.StatusForbidden, api.ErrorNameForbidden, "does not name this host", "allowed_hosts")
	}
	for _, h := range []string{"localhost:" + port, "LOCALHOST:" + port, "127.0.0.1:" + port, "[::1]:" + port} {
		r := f.send(t, http.MethodGet, "/v1/handlers", "", map[string]string{"Host": h})
		require.Equal(t, http.StatusOK, r.status, "%s: %s", h, r.body)
	}

	f = guarded(t, api.ServerOptions{AllowedHosts: []string{"tasks.internal", "ops.internal:9", "[fd00::1]:" + f.port(t)}})
	port = f.port(t)
	for h, want := range map[string]int{
		"tasks.internal:" + port: http.StatusOK,
		"tasks.internal:1":       http.StatusOK,
		"tasks.internal":         http.StatusOK,
		"ops.internal:9":         http.StatusOK,
		"ops.internal:" + port:   http.StatusForbidden,
		"evil.internal:" + port:  http.StatusForbidden,
		"localhost:" + port:      http.StatusOK,
	} {
		r := f.send(t, http.MethodGet, "/v1/handlers", "", map[string]string{"Host": h})
		require.Equal(t, want, r.status, "%s: %s", h, r.body)
	}

	f = guarded(t, api.ServerOptions{AllowedHosts: []string{"*"}})
	r := f.send(t, http.MethodGet, "/v1/handlers", "", map[string]string{"Host": "anything.example"})
	require.Equal(t, http.StatusOK, r.status, r.body)
}
