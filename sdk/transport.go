package sdk

import (
	"crypto/tls"
	"fmt"

	"github.com/taskhost/taskhost/shared"
)

// serverTLS reads the transport security variables the host set (see the
// package doc) and removes them from the process's environment, so that
// nothing the plugin starts inherits its key. nil means serve as go-plugin
// does without them: plain, or go-plugin's AutoMTLS for an older host.
func serverTLS(lookup func(string) (string, bool), unset func(string) error) (*tls.Config, error) {
	cfg, err := shared.PluginTLSConfig(lookup)
	if err != nil || cfg == nil {
		return nil, err
	}
	for _, name := range []string{shared.EnvHostCert, shared.EnvPluginCert, shared.EnvPluginKey} {
		if err := unset(name); err != nil {
			return nil, fmt.Errorf("transport security: unset %s: %w", name, err)
		}
	}
	return cfg, nil
}
