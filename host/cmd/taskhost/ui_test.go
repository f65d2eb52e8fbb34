package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/api"
)

func TestLoadConfigDashboard(t *testing.T) {
	t.Parallel()
	dir := configDir(t)
	cfg, err := LoadConfig(writeConfig(t, dir, "default.hcl", `data_dir = "./data"`))
	require.NoError(t, err)
	require.True(t, cfg.UI, "the dashboard is on by default")
	require.False(t, cfg.UIReadOnly)

	cfg, err = LoadConfig(writeConfig(t, dir, "ro.hcl", "ui = true\nui_read_only = true\n"))
	require.NoError(t, err)
	require.True(t, cfg.UI)
	require.True(t, cfg.UIReadOnly)

	cfg, err = LoadConfig(writeConfig(t, dir, "off.hcl", "ui = false\n"))
	require.NoError(t, err)
	require.False(t, cfg.UI)

	_, err = LoadConfig(writeConfig(t, dir, "bad.hcl", `ui = "yes please"`))
	require.ErrorContains(t, err, "bad.hcl:1")
}

// get answers a GET of url with its status and body.
func get(t *testing.T, url string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestE2EServeDashboard(t *testing.T) {
	t.Parallel()
	addr, _, _ := serveReal(t, "\nui_read_only = true\n")
	status, page := get(t, "http://"+addr+"/", nil)
	require.Equal(t, http.StatusOK, status, "/ leads to the dashboard")
	require.Contains(t, page, `data-read-only="true"`)
	require.Contains(t, page, `/ui/assets/app.js`)
	status, js := get(t, "http://"+addr+"/ui/assets/app.js", nil)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, js, "import")

	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+addr+"/v1/tasks/01a21a2f80f67e8bb66cf777882b19aa/cancel", nil)
	require.NoError(t, err)
	req.Header.Set(api.UIHeader, "1")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode, string(b))
	require.True(t, strings.Contains(string(b), "read-only"), string(b))

	off, _, _ := serveReal(t, "\nui = false\n")
	status, _ = get(t, "http://"+off+"/ui/", nil)
	require.Equal(t, http.StatusNotFound, status, "ui = false turns the dashboard off")
	status, _ = get(t, "http://"+off+"/v1/counts", nil)
	require.Equal(t, http.StatusOK, status, "the API stays")
}
