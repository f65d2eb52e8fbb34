package api_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/api"
	"github.com/taskhost/taskhost/shared"
)

func TestNewClientAddr(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		"127.0.0.1:7474":             "http://127.0.0.1:7474",
		"localhost:7474":             "http://localhost:7474",
		"http://127.0.0.1:7474":      "http://127.0.0.1:7474",
		"http://127.0.0.1:7474/":     "http://127.0.0.1:7474",
		"https://tasks.example/api/": "https://tasks.example/api",
		"[::1]:7474":                 "http://[::1]:7474",
	} {
		c, err := api.NewClient(addr)
		require.NoError(t, err, addr)
		require.Equal(t, want, c.Addr(), addr)
	}
	for _, addr := range []string{"", "ftp://host:21", "http://", "http://host:1?x=1", "http://u:p@host:1"} {
		_, err := api.NewClient(addr)
		require.ErrorIs(t, err, shared.ErrInvalidArgument, addr)
	}
}

func TestClientUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	c, err := api.NewClient(addr)
	require.NoError(t, err)
	_, err = c.Get(t.Context(), "a")
	require.ErrorContains(t, err, "request to the host at http://"+addr+" failed: ")
	require.ErrorContains(t, err, "refused")
}

// TestClientForeignError: an error answer that is not ours (a proxy's,
// say) still becomes an *api.Error with the status.
func TestClientForeignError(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream\nis down", http.StatusBadGateway)
	}))
	t.Cleanup(ts.Close)
	c, err := api.NewClient(ts.URL)
	require.NoError(t, err)

	_, err = c.Get(t.Context(), "a")
	apiErr, ok := err.(*api.Error)
	require.True(t, ok, "%T %v", err, err)
	require.Equal(t, http.StatusBadGateway, apiErr.Status)
	require.Equal(t, "HTTP502", apiErr.Name)
	require.Equal(t, "GET /v1/tasks/a: upstream is down (502 HTTP502)", err.Error())
	require.NoError(t, apiErr.Unwrap())
}
