package api

import (
	"net/http"
	"slices"
	"strings"
)

// UIHeader is the header every request of the dashboard carries (with
// any value), by which a host in read-only mode refuses its changes.
const UIHeader = "X-Taskhost-UI"

// serveUI passes a request for the dashboard to ServerOptions.UI and
// reports whether it did: /ui/ and below, and / and /ui, which redirect
// to /ui/.
func (s *Server) serveUI(w http.ResponseWriter, r *http.Request) bool {
	switch p := r.URL.Path; {
	case (p == "/" || p == "/ui") && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		http.Redirect(w, r, "/ui/", http.StatusFound)
		return true
	case strings.HasPrefix(p, "/ui/"):
		s.opts.UI.ServeHTTP(w, r)
		return true
	}
	return false
}

// checkReadOnly refuses, in read-only mode, a request from the dashboard
// that would change something.
func (s *Server) checkReadOnly(r *http.Request) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	if !s.opts.UIReadOnly || !s.fromUI(r) {
		return nil
	}
	return &Error{
		Status: http.StatusForbidden,
		Name:   ErrorNameForbidden,
		Message: "the dashboard is read-only on this host (ui_read_only = true): it may look but not change tasks; " +
			"use the CLI or the API from outside a browser",
	}
}

// fromUI reports whether r comes from the dashboard: it says so in
// UIHeader, or it comes from a page of the host's own origin, which only
// serves the dashboard. Browsers name the page's origin on every request
// that changes something (Origin) and say how it relates to the target
// (Sec-Fetch-Site), and no script can leave either out, so a request
// typed into the browser's console is caught as well as the dashboard's
// own. A client outside a browser can send anything: read-only mode keeps
// the dashboard from acting, while the API token decides who may act.
func (s *Server) fromUI(r *http.Request) bool {
	if r.Header.Get(UIHeader) != "" || r.Header.Get("Sec-Fetch-Site") == "same-origin" {
		return true
	}
	origin := r.Header.Get("Origin")
	// checkOrigin let it through: an Origin that is not an allowed
	// foreign one is the host's own.
	return origin != "" && !slices.ContainsFunc(s.opts.AllowedOrigins, func(a string) bool { return strings.EqualFold(a, origin) })
}
