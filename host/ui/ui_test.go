package ui_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/ui"
)

func TestHandlerServesPageAndAssets(t *testing.T) {
	t.Parallel()
	h, err := ui.NewHandler(ui.Options{ReadOnly: true, TokenRequired: true, NodeID: `a"b`})
	require.NoError(t, err)
	get := func(path string, header ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for _, path := range []string{"/ui/", "/ui/tasks", "/ui/tasks/0123/and/more"} {
		w := get(path)
		require.Equal(t, http.StatusOK, w.Code, path)
		require.Equal(t, "text/html; charset=utf-8", w.Header().Get("Content-Type"))
		body := w.Body.String()
		require.Contains(t, body, `data-read-only="true"`)
		require.Contains(t, body, `data-token-required="true"`)
		require.Contains(t, body, `data-node="a&#34;b"`, "escaped")
		require.Contains(t, w.Header().Get("Content-Security-Policy"), "script-src 'self'")
		require.Equal(t, "DENY", w.Header().Get("X-Frame-Options"))
	}

	w := get("/ui/assets/app.js")
	require.Equal(t, http.StatusOK, w.Code)
	require.True(t, strings.HasPrefix(w.Header().Get("Content-Type"), "text/javascript"), w.Header().Get("Content-Type"))
	etag := w.Header().Get("ETag")
	require.NotEmpty(t, etag)
	require.Equal(t, http.StatusNotModified, get("/ui/assets/app.js", "If-None-Match", etag).Code)
	require.Equal(t, http.StatusNotFound, get("/ui/assets/nosuch.js").Code)
	require.Equal(t, http.StatusNotFound, get("/ui/assets/index.html").Code, "the page only as a page")

	require.NotContains(t, get("/ui/").Body.String(), `href="/ui/nodes"`, "no nodes page on one node")
	cluster, err := ui.NewHandler(ui.Options{Cluster: true})
	require.NoError(t, err)
	w = httptest.NewRecorder()
	cluster.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/ui/", nil))
	require.Contains(t, w.Body.String(), `data-cluster="true"`)
	require.Contains(t, w.Body.String(), `href="/ui/nodes"`, "the nodes page in cluster mode")

	r := httptest.NewRequest(http.MethodPost, "/ui/", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	require.Equal(t, http.StatusMethodNotAllowed, rec.Code)
}
