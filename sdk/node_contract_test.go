package sdk_test

import (
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/shared"
)

// The Node SDK (sdk/node) states the handshake in TypeScript; it must say
// what shared.Handshake says, or no Node plugin starts.
func TestNodeSDKHandshakeMatchesShared(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("node/src/handshake.ts")
	require.NoError(t, err)
	constant := func(name string) string {
		m := regexp.MustCompile(`export const ` + name + ` = ([^;]+);`).FindSubmatch(src)
		require.NotNil(t, m, "sdk/node/src/handshake.ts has no %s", name)
		return string(m[1])
	}
	hs := shared.Handshake()
	require.Equal(t, "'"+hs.MagicCookieKey+"'", constant("magicCookieKey"))
	require.Equal(t, "'"+hs.MagicCookieValue+"'", constant("magicCookieValue"))
	var versions []string
	for _, v := range slices.Sorted(maps.Keys(shared.VersionedPlugins(nil))) {
		versions = append(versions, strconv.Itoa(v))
	}
	require.Equal(t, "["+strings.Join(versions, ", ")+"]", constant("protocolVersions"))
	src, err = os.ReadFile("node/src/serve.ts")
	require.NoError(t, err)
	require.Contains(t, string(src), "export const maxMessageKey = '"+shared.MaxMessageKey+"';")
}
