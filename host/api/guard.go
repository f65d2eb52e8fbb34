package api

import (
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// A web page open in a browser on the host's machine can send requests to
// a loopback API, which needs no token there. The guard refuses what such
// a page can send without the API's consent:
//   - a body that is not JSON (415): a page may post text/plain or a form
//     to any address without asking first, but not application/json;
//   - an Origin other than the host's own (403), unless allowed: fetch and
//     XMLHttpRequest name the page's origin on every cross-site request;
//   - a Host header that does not name this host (403): a page can make
//     its own name resolve to 127.0.0.1 (DNS rebinding), and its requests
//     then carry that name.
//
// Allowed origins get the CORS headers their pages need to read answers
// and to send JSON.

// loopbackNames are the Host names that always reach this host.
var loopbackNames = []string{"localhost", "127.0.0.1", "::1"}

// checkHost refuses a Host header that names neither this host (a
// loopback name or the address the request came in on, with its port)
// nor an allowed host.
func (s *Server) checkHost(r *http.Request) error {
	if slices.Contains(s.opts.AllowedHosts, "*") {
		return nil
	}
	name, port := splitHostPort(r.Host, "80")
	name = strings.ToLower(name)
	for _, a := range s.opts.AllowedHosts {
		aName, aPort, ok := strings.Cut(a, ":")
		if strings.HasPrefix(a, "[") || strings.Count(a, ":") > 1 {
			aName, aPort = splitHostPort(a, "")
			ok = aPort != ""
		}
		if strings.EqualFold(aName, name) && (!ok || aPort == port) {
			return nil
		}
	}
	if local, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok {
		if port == strconv.Itoa(local.Port) && (slices.Contains(loopbackNames, name) || name == local.IP.String()) {
			return nil
		}
	}
	return &Error{
		Status: http.StatusForbidden,
		Name:   ErrorNameForbidden,
		Message: fmt.Sprintf("Host %q does not name this host: want localhost, 127.0.0.1, [::1] or the listen address, with the port, "+
			"or a name listed in allowed_hosts", r.Host),
	}
}

// checkOrigin refuses a request from a browser page of another origin
// than the host's own, unless that origin is allowed; it reports whether
// the origin is an allowed foreign one (which gets CORS headers).
func (s *Server) checkOrigin(r *http.Request) (foreign bool, err error) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false, nil
	}
	if slices.ContainsFunc(s.opts.AllowedOrigins, func(a string) bool { return strings.EqualFold(a, origin) }) {
		return true, nil
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if u, err := url.Parse(origin); err == nil && u.Scheme == scheme && u.Path == "" {
		oName, oPort := splitHostPort(u.Host, defaultPort(scheme))
		hName, hPort := splitHostPort(r.Host, defaultPort(scheme))
		if strings.EqualFold(oName, hName) && oPort == hPort {
			return false, nil
		}
	}
	return false, &Error{
		Status:  http.StatusForbidden,
		Name:    ErrorNameForbidden,
		Message: fmt.Sprintf("requests from origin %q are refused: only the host's own origin and those in allowed_origins may call the API", origin),
	}
}

// checkBody refuses a request body that is not JSON.
func checkBody(r *http.Request) error {
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err == nil && mt == "application/json" {
		return nil
	}
	if ct == "" {
		ct = "none"
	}
	return &Error{
		Status:  http.StatusUnsupportedMediaType,
		Name:    ErrorNameUnsupportedMediaType,
		Message: fmt.Sprintf("request body has Content-Type %s: want application/json", ct),
	}
}

// setCORS lets the page of an allowed origin read the answer, and answers
// its preflight; it reports whether r was a preflight, now answered.
func setCORS(w http.ResponseWriter, r *http.Request) bool {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Expose-Headers", "Location, Warning")
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// splitHostPort splits host[:port] (IPv6 in brackets), with port def when
// it has none.
func splitHostPort(hostport, def string) (host, port string) {
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		return h, p
	}
	return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]"), def
}

func defaultPort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}
