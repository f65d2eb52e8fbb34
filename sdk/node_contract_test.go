package sdk_test

import (
	"os"
	"regexp"
	"strconv"
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
	require.Equal(t, "["+strconv.Itoa(shared.ProtocolVersion)+"]", constant("protocolVersions"))
}
