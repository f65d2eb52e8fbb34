package shared

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// lookupIn is os.LookupEnv over NAME=value lines.
func lookupIn(env []string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		for _, kv := range env {
			if k, v, _ := strings.Cut(kv, "="); k == name {
				return v, true
			}
		}
		return "", false
	}
}

func newIdentity(t *testing.T) *Identity {
	t.Helper()
	id, err := NewIdentity()
	require.NoError(t, err)
	return id
}

// handshake runs a TLS handshake between client and server configs over
// a loopback connection, then a byte each way, and returns each side's
// error.
func handshake(t *testing.T, client, server *tls.Config) (clientErr, serverErr error, state tls.ConnectionState) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	deadline := time.Now().Add(10 * time.Second)
	done := make(chan error, 1)
	go func() {
		s, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		defer s.Close()
		_ = s.SetDeadline(deadline)
		ts := tls.Server(s, server)
		// In TLS 1.3 the server checks the client's certificate after the
		// client is done: the read gets its verdict.
		_, err = ts.Read(make([]byte, 1))
		if err == nil {
			_, err = ts.Write([]byte{1})
		}
		done <- err
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(deadline))
	tc := tls.Client(c, client)
	// The client learns of a refused certificate from its first read.
	_, clientErr = tc.Write([]byte{1})
	if clientErr == nil {
		_, clientErr = tc.Read(make([]byte, 1))
	}
	return clientErr, <-done, tc.ConnectionState()
}

func TestIdentityIsAP256SelfSignedCertificateForTLSName(t *testing.T) {
	t.Parallel()
	id := newIdentity(t)
	leaf := id.Certificate.Leaf
	require.Equal(t, x509.ECDSA, leaf.PublicKeyAlgorithm)
	require.Equal(t, elliptic.P256(), leaf.PublicKey.(*ecdsa.PublicKey).Curve)
	require.Equal(t, x509.ECDSAWithSHA256, leaf.SignatureAlgorithm)
	require.NoError(t, leaf.CheckSignatureFrom(leaf), "self-signed")
	require.NoError(t, leaf.VerifyHostname(TLSName))
	require.True(t, leaf.NotAfter.After(time.Now().Add(50*365*24*time.Hour)), "outlives any worker")

	block, rest := pem.Decode(id.CertPEM)
	require.Empty(t, rest)
	require.Equal(t, "CERTIFICATE", block.Type)
	require.Equal(t, leaf.Raw, block.Bytes)
	block, rest = pem.Decode(id.KeyPEM)
	require.Empty(t, rest)
	require.Equal(t, "PRIVATE KEY", block.Type, "PKCS #8")
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	require.True(t, key.(*ecdsa.PrivateKey).PublicKey.Equal(leaf.PublicKey))

	require.NotEqual(t, id.CertPEM, newIdentity(t).CertPEM, "every identity is fresh")
}

// channel issues a plugin identity as the host does and returns the
// host's side and the plugin's config, read from the variables.
func channel(t *testing.T) (PluginTLS, *tls.Config) {
	t.Helper()
	ch, err := newIdentity(t).NewPluginTLS()
	require.NoError(t, err)
	server, err := PluginTLSConfig(lookupIn(ch.Env))
	require.NoError(t, err)
	require.NotNil(t, server)
	return ch, server
}

func TestHostAndPluginConfigsShakeHands(t *testing.T) {
	t.Parallel()
	ch, server := channel(t)

	clientErr, serverErr, state := handshake(t, ch.Config, server)
	require.NoError(t, clientErr)
	require.NoError(t, serverErr)
	require.Equal(t, uint16(tls.VersionTLS13), state.Version)
	require.True(t, state.PeerCertificates[0].Equal(mustParse(t, lookupIn(ch.Env), EnvPluginCert)))

	// go-plugin's broker may dial the other way: the same configs serve.
	clientErr, serverErr, _ = handshake(t, server, ch.Config)
	require.NoError(t, clientErr)
	require.NoError(t, serverErr)
}

func mustParse(t *testing.T, lookup func(string) (string, bool), name string) *x509.Certificate {
	t.Helper()
	s, _ := lookup(name)
	cert, err := parseCertPEM(s)
	require.NoError(t, err)
	return cert
}

// pluginConfig is a plugin's config for its identity plugin, trusting
// host.
func pluginConfig(t *testing.T, host, plugin *Identity) *tls.Config {
	t.Helper()
	cfg, err := PluginTLSConfig(lookupIn([]string{
		EnvHostCert + "=" + string(host.CertPEM),
		EnvPluginCert + "=" + string(plugin.CertPEM),
		EnvPluginKey + "=" + string(plugin.KeyPEM),
	}))
	require.NoError(t, err)
	return cfg
}

func TestHostRefusesAPluginCertificateItDidNotIssue(t *testing.T) {
	t.Parallel()
	host := newIdentity(t)
	ch, err := host.NewPluginTLS()
	require.NoError(t, err)
	foreign := newIdentity(t)

	clientErr, _, _ := handshake(t, ch.Config, pluginConfig(t, host, foreign))
	require.ErrorIs(t, clientErr, errNotIssued)

	// go-plugin's client trusts whatever certificate a plugin prints in its
	// handshake line (it sets RootCAs to it): the pin still refuses it.
	ch.Config.RootCAs = x509.NewCertPool()
	ch.Config.RootCAs.AddCert(foreign.Certificate.Leaf)
	clientErr, _, _ = handshake(t, ch.Config, pluginConfig(t, host, foreign))
	require.ErrorIs(t, clientErr, errNotIssued)
}

// The chain is not verified, only pinned: a peer that presents the pinned
// certificate must still hold its key, or TLS 1.3's CertificateVerify
// fails.
func TestAPinnedCertificateWithoutItsKeyIsRefused(t *testing.T) {
	t.Parallel()
	host := newIdentity(t)
	ch, err := host.NewPluginTLS()
	require.NoError(t, err)
	server, err := PluginTLSConfig(lookupIn(ch.Env))
	require.NoError(t, err)
	impostorKey := newIdentity(t).Certificate.PrivateKey

	// A client presenting the host's certificate, signing with another key.
	client := ch.Config.Clone()
	client.Certificates = []tls.Certificate{{Certificate: host.Certificate.Certificate, PrivateKey: impostorKey}}
	_, serverErr, _ := handshake(t, client, server)
	require.ErrorContains(t, serverErr, "invalid signature")

	// A server presenting the plugin's certificate, signing with another key.
	impostor := server.Clone()
	impostor.Certificates = []tls.Certificate{{Certificate: server.Certificates[0].Certificate, PrivateKey: impostorKey}}
	clientErr, _, _ := handshake(t, ch.Config, impostor)
	require.ErrorContains(t, clientErr, "invalid signature")
}

func TestPluginRefusesClientsWithoutTheHostCertificate(t *testing.T) {
	t.Parallel()
	ch, server := channel(t)

	noCert := ch.Config.Clone()
	noCert.Certificates = nil
	_, serverErr, _ := handshake(t, noCert, server)
	require.ErrorContains(t, serverErr, "client didn't provide a certificate")

	other := ch.Config.Clone()
	other.Certificates = []tls.Certificate{newIdentity(t).Certificate}
	_, serverErr, _ = handshake(t, other, server)
	require.ErrorIs(t, serverErr, errNotIssued)

	tls12 := ch.Config.Clone()
	tls12.MinVersion, tls12.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	_, serverErr, _ = handshake(t, tls12, server)
	require.ErrorContains(t, serverErr, "unsupported versions")
}

func TestPluginTLSConfigReadsTheVariablesAllOrNone(t *testing.T) {
	t.Parallel()
	host, plugin, other := newIdentity(t), newIdentity(t), newIdentity(t)
	hostCert := EnvHostCert + "=" + string(host.CertPEM)
	cert := EnvPluginCert + "=" + string(plugin.CertPEM)
	key := EnvPluginKey + "=" + string(plugin.KeyPEM)

	for name, tc := range map[string]struct {
		env  []string
		want string // "" for no config and no error
	}{
		"none":                  {nil, ""},
		"AutoMTLS of go-plugin": {[]string{hostCert}, ""},
		"no key":                {[]string{hostCert, cert}, "[TASKHOST_PLUGIN_KEY] not set"},
		"no certificate":        {[]string{hostCert, key}, "[TASKHOST_PLUGIN_CERT] not set"},
		"no host certificate":   {[]string{cert, key}, "[PLUGIN_CLIENT_CERT] not set"},
		"empty key":             {[]string{hostCert, cert, EnvPluginKey + "="}, "TASKHOST_PLUGIN_CERT and TASKHOST_PLUGIN_KEY"},
		"another's key":         {[]string{hostCert, cert, EnvPluginKey + "=" + string(other.KeyPEM)}, "private key does not match public key"},
		"host key, not cert":    {[]string{EnvHostCert + "=" + string(host.KeyPEM), cert, key}, "PLUGIN_CLIENT_CERT: no PEM CERTIFICATE block"},
		"garbage certificate":   {[]string{hostCert, EnvPluginCert + "=-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", key}, "TASKHOST_PLUGIN_CERT"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg, err := PluginTLSConfig(lookupIn(tc.env))
			require.Nil(t, cfg)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
	cfg, err := PluginTLSConfig(lookupIn([]string{hostCert, cert, key}))
	require.NoError(t, err)
	require.Equal(t, uint16(tls.VersionTLS13), cfg.MinVersion)
	require.Equal(t, tls.RequireAnyClientCert, cfg.ClientAuth)
}
