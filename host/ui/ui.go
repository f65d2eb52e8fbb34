// Package ui is the web dashboard served at /ui/: a page and its
// scripts and styles, embedded in the binary (go:embed), and the handler
// that serves them. The page talks to the host's HTTP API (host/api) from
// the browser, with the API token when the host has one; this package
// answers no data of its own, and knows nothing of the engine or the
// store.
//
// # Why a static page and a little JavaScript
//
// The API token must stay in the browser tab (sessionStorage) and travel
// in the Authorization header of each call, which a page fetched by a
// plain link cannot carry: server-rendered pages would need a cookie, and
// a cookie outlives the tab and rides along on requests of other sites'
// pages. So the page is a shell that asks the API for its data with
// fetch, and draws it with a few hundred lines of plain JavaScript (ES
// modules, no framework, no build step): nothing to install to build the
// host, and what is served is what is in the repository.
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed assets
var assets embed.FS

// Prefix is where the dashboard is mounted.
const Prefix = "/ui/"

// Options configure [NewHandler].
type Options struct {
	// ReadOnly hides every action; the API refuses them from the
	// dashboard too (api.ServerOptions.UIReadOnly).
	ReadOnly bool
	// TokenRequired: the API wants a token, which the page asks for
	// before its first call rather than after a refusal.
	TokenRequired bool
	// Cluster: the host shares its store with other nodes. The page then
	// shows the nodes, and reads the lists again every few seconds, since
	// the host's change stream carries only its own changes.
	Cluster bool
	// NodeID names this host in the page's title.
	NodeID string
}

// NewHandler returns the handler of the dashboard, to mount at Prefix:
// the files of assets/ under Prefix+"assets/", and the page for every
// other path under Prefix (the page routes by path itself).
func NewHandler(opts Options) (http.Handler, error) {
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, err
	}
	src, err := fs.ReadFile(static, "index.html")
	if err != nil {
		return nil, err
	}
	tmpl, err := template.New("index").Parse(string(src))
	if err != nil {
		return nil, err
	}
	var page bytes.Buffer
	if err := tmpl.Execute(&page, opts); err != nil {
		return nil, err
	}
	files := make(map[string]asset)
	err = fs.WalkDir(static, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || name == "index.html" {
			return err
		}
		b, err := fs.ReadFile(static, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		files[name] = asset{data: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &handler{files: files, page: page.Bytes(), built: time.Now()}, nil
}

type handler struct {
	files map[string]asset // by name under assets/
	page  []byte
	built time.Time
}

// asset is an embedded file, with an ETag of its content so that a
// browser's revalidation costs a 304.
type asset struct {
	data []byte
	etag string
}

// csp allows the page only its own scripts, styles and API: no inline
// script, nothing from another origin, no framing.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, Prefix)
	if name, ok := strings.CutPrefix(rest, "assets/"); ok {
		a, found := h.files[name]
		if !found {
			http.NotFound(w, r)
			return
		}
		// Revalidated each time, at the cost of a 304: the files change
		// with the binary.
		hd.Set("Cache-Control", "no-cache")
		hd.Set("ETag", a.etag)
		if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
			hd.Set("Content-Type", ct)
		}
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.data))
		return
	}
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	http.ServeContent(w, r, "index.html", h.built, bytes.NewReader(h.page))
}
