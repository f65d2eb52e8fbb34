package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// make run CONFIG=file serves that file (a dry run shows the command).
func TestMakeRunTakesConfig(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("make"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("make is not installed")
		}
		t.Skip("SKIPPED: make is not installed, so make run cannot be checked")
	}
	root, err := filepath.Abs("../../..")
	require.NoError(t, err)
	for config, want := range map[string]string{
		"":                  "/bin/taskhost serve --config examples/taskhost.hcl",
		"/etc/tasks/a.hcl":  "/bin/taskhost serve --config /etc/tasks/a.hcl",
		"other/config.json": "/bin/taskhost serve --config other/config.json",
	} {
		args := []string{"-n", "--no-print-directory", "-C", root, "run"}
		if config != "" {
			args = append(args, "CONFIG="+config)
		}
		out, err := exec.Command("make", args...).CombinedOutput()
		require.NoError(t, err, "%s", out)
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		require.True(t, strings.HasSuffix(lines[len(lines)-1], want), "make run CONFIG=%s runs %q", config, lines[len(lines)-1])
	}
}
