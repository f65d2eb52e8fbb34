package host_test

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
)

func TestSetProcessMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	noEnv := func(string) string { return "" }

	require.EqualValues(t, 100<<20, host.SetProcessMemoryLimit(100<<20, noEnv))
	require.EqualValues(t, 100<<20, debug.SetMemoryLimit(-1))

	require.EqualValues(t, math.MaxInt64, host.SetProcessMemoryLimit(0, noEnv), "0 is no limit")
	require.EqualValues(t, math.MaxInt64, debug.SetMemoryLimit(-1))

	// GOMEMLIMIT in the environment was applied by the runtime at start
	// and wins: the limit in effect stays as it is.
	debug.SetMemoryLimit(300 << 20)
	env := func(k string) string {
		if k == "GOMEMLIMIT" {
			return "300MiB"
		}
		return ""
	}
	require.EqualValues(t, 300<<20, host.SetProcessMemoryLimit(100<<20, env))
	require.EqualValues(t, 300<<20, debug.SetMemoryLimit(-1))
}
