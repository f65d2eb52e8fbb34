package sdk

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/shared"
)

// env is a process environment for serverTLS.
type env map[string]string

func (e env) lookup(name string) (string, bool) { v, ok := e[name]; return v, ok }
func (e env) unset(name string) error           { delete(e, name); return nil }

func TestServerTLSTakesTheVariablesOutOfTheEnvironment(t *testing.T) {
	t.Parallel()
	host, err := shared.NewIdentity()
	require.NoError(t, err)
	ch, err := host.NewPluginTLS()
	require.NoError(t, err)
	e := env{"REGION": "eu-1"}
	for _, kv := range ch.Env {
		k, v, _ := strings.Cut(kv, "=")
		e[k] = v
	}
	cfg, err := serverTLS(e.lookup, e.unset)
	require.NoError(t, err)
	require.NotNil(t, cfg)
	require.Equal(t, env{"REGION": "eu-1"}, e, "the host's certificate, the plugin's certificate and key are gone")

	// go-plugin's AutoMTLS (an older host): left to go-plugin, which reads
	// the variable itself.
	e = env{shared.EnvHostCert: string(host.CertPEM)}
	cfg, err = serverTLS(e.lookup, e.unset)
	require.NoError(t, err)
	require.Nil(t, cfg)
	require.Contains(t, e, shared.EnvHostCert)

	e = env{shared.EnvPluginCert: "x"}
	_, err = serverTLS(e.lookup, e.unset)
	require.ErrorContains(t, err, "not set")
}
