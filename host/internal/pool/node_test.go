package pool

// Plugins run by a command (node and a script written with sdk/node): the
// script's checks and pin, and the transport security of the Node SDK
// with both schemes it speaks.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/taskhost/taskhost/host/internal/testplugin"
	"github.com/taskhost/taskhost/shared"
	"github.com/taskhost/taskhost/shared/proto"
)

// nodeSetup is setup for the Node test plugin, its script copied into a
// directory of the test's own (so that a test may change it).
func nodeSetup(t *testing.T) (Config, testplugin.Node) {
	t.Helper()
	node := testplugin.NeedNode(t)
	cfg := setup(t)
	cfg.Path, cfg.Args = node.Bin, []string{node.TestWorker}
	return cfg, node
}

// copyScript copies the Node test plugin into a directory of the test's
// own, where @taskhost/sdk resolves to this checkout's (a link, as npm
// makes for a file: dependency).
func copyScript(t *testing.T, node testplugin.Node) string {
	t.Helper()
	b, err := os.ReadFile(node.TestWorker)
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "node_modules", "@taskhost"), 0o755))
	require.NoError(t, os.Symlink(node.SDK, filepath.Join(dir, "node_modules", "@taskhost", "sdk")))
	path := filepath.Join(dir, "testworker.mjs")
	require.NoError(t, os.WriteFile(path, b, 0o644))
	require.NoError(t, os.Chmod(path, 0o644))
	return path
}

func TestCommandPluginChecksItsScript(t *testing.T) {
	t.Parallel()
	cfg, node := nodeSetup(t)
	sum, err := fileSHA256(node.TestWorker)
	require.NoError(t, err)
	writable := copyScript(t, node)
	require.NoError(t, os.Chmod(writable, 0o666))

	for name, tc := range map[string]struct {
		change func(*Config)
		want   []string
	}{
		"missing script":    {func(c *Config) { c.Args = []string{"/nonexistent/worker.mjs"} }, []string{"plugin script", "no such file"}},
		"writable script":   {func(c *Config) { c.Args = []string{writable} }, []string{"writable by its group or others"}},
		"no script":         {func(c *Config) { c.Args = []string{"--no-warnings"} }, []string{"name no script"}},
		"checksum mismatch": {func(c *Config) { c.SHA256 = strings.Repeat("0", 64) }, []string{node.TestWorker, "has sha256 " + sum, "pins " + strings.Repeat("0", 64)}},
		"unknown method":    {func(c *Config) { c.Method = "nope" }, []string{node.TestWorker, `exports no method "nope"`, "echo"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := cfg
			tc.change(&c)
			_, err := New(context.Background(), NewSystem(1), c)
			require.ErrorIs(t, err, shared.ErrInvalidArgument)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}

	// Flags before the script are the interpreter's.
	c := cfg
	c.Args, c.SHA256 = []string{"--no-warnings", node.TestWorker}, sum
	p := newPool(t, NewSystem(1), c)
	callPID(t, p, `{}`)
}

// sha256 pins the script, not the interpreter, and is checked at every
// worker start.
func TestCommandPluginChecksumPinsTheScript(t *testing.T) {
	t.Parallel()
	cfg, node := nodeSetup(t)
	script := copyScript(t, node)
	sum, err := fileSHA256(script)
	require.NoError(t, err)
	cfg.Args, cfg.SHA256, cfg.IdleShutdownTimeout = []string{script}, sum, 0
	p := newPool(t, NewSystem(1), cfg)
	pid := callPID(t, p, `{}`)
	eventually(t, "worker to stop", func() bool { return !testplugin.Alive(pid) })

	f, err := os.OpenFile(script, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("// tampered\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = call(t, p, `{}`)
	requireTaskError(t, err, shared.ErrorNameWorkerStart, script, "sha256 checksum no longer matches")
}

// With the pool's mutual TLS (the default) a Node worker serves TLS 1.3
// with the certificate the host issued it, and answers only the host's
// client certificate: not a plaintext client, nor a TLS client with
// another certificate.
func TestNodePluginServesMutualTLSToTheHostOnly(t *testing.T) {
	t.Parallel()
	cfg, _ := nodeSetup(t)
	p := newPool(t, NewSystem(1), cfg)
	callPID(t, p, `{}`)
	p.mu.Lock()
	require.Len(t, p.idle, 1)
	w := p.idle[0]
	p.mu.Unlock()
	addr := w.client.ReattachConfig().Addr
	require.Equal(t, "unix", addr.Network())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	methods := func(creds credentials.TransportCredentials) error {
		conn, err := grpc.NewClient("unix:"+addr.String(), grpc.WithTransportCredentials(creds))
		require.NoError(t, err)
		defer conn.Close()
		_, err = proto.NewWorkerClient(conn).Methods(ctx, &proto.MethodsRequest{})
		return err
	}
	require.Error(t, methods(insecure.NewCredentials()), "a plaintext client")

	stranger, err := shared.NewIdentity()
	require.NoError(t, err)
	var state tls.ConnectionState
	cfgTLS := &tls.Config{
		Certificates: []tls.Certificate{stranger.Certificate}, InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error { state = cs; return nil },
	}
	require.Error(t, methods(credentials.NewTLS(cfgTLS)), "a TLS client whose certificate is not the host's")
	require.NotEmpty(t, state.PeerCertificates, "the TLS handshake itself went through")
	require.Equal(t, uint16(tls.VersionTLS13), state.Version)
	require.Equal(t, x509.ECDSA, state.PeerCertificates[0].PublicKeyAlgorithm, "the certificate the host issued")
	require.Equal(t, "h2", state.NegotiatedProtocol)

	// The pool's own client still works.
	callPID(t, p, `{}`)
}

// The host-issued scheme is TLS 1.3 only; its variables are gone from the
// plugin's environment once read; an incomplete set of them is refused.
func TestNodePluginHostIssuedSchemeDetails(t *testing.T) {
	t.Parallel()
	node := testplugin.NeedNode(t)
	for _, tc := range []struct {
		name    string
		maxTLS  uint16
		wantErr string
	}{
		{"TLS 1.3", tls.VersionTLS13, ""},
		{"TLS 1.2 is refused", tls.VersionTLS12, "handshake"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ch := issue(t)
			ch.Config.MaxVersion = tc.maxTLS
			cmd := exec.Command(node.Bin, node.TestWorker)
			cmd.Env = ch.Env
			out, err := invokeRaw(t, cmd, ch.Config, false, "env")
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			requireNoCertVars(t, out)
		})
	}

	_, ch := issue(t)
	cmd, stdout, stderr := runCommand(t, []string{node.Bin, node.TestWorker}, ch.Env[1:]...) // no host certificate
	line, _ := stdout.ReadString('\n')
	require.Empty(t, line, "no handshake")
	err := cmd.Wait()
	require.Equal(t, 1, cmd.ProcessState.ExitCode(), "%v", err)
	require.Contains(t, stderr.String(), "plugin init error")
	require.Contains(t, stderr.String(), "PLUGIN_CLIENT_CERT is not")
}

// A host from before the pool's own scheme uses go-plugin's AutoMTLS: the
// Node SDK serves it too.
func TestNodePluginServesGoPluginAutoMTLS(t *testing.T) {
	t.Parallel()
	node := testplugin.NeedNode(t)
	out, err := invokeRaw(t, exec.Command(node.Bin, node.TestWorker), nil, true, "env")
	require.NoError(t, err)
	requireNoCertVars(t, out)
}

// invokeRaw starts cmd through go-plugin's client (with tlsConfig, or
// AutoMTLS) and invokes method on it.
func invokeRaw(t *testing.T, cmd *exec.Cmd, tlsConfig *tls.Config, autoMTLS bool, method string) (shared.Outcome, error) {
	t.Helper()
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  shared.Handshake(),
		VersionedPlugins: shared.VersionedPlugins(nil),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		SkipHostEnv:      true,
		StartTimeout:     30 * time.Second,
		TLSConfig:        tlsConfig,
		AutoMTLS:         autoMTLS,
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		return shared.Outcome{}, err
	}
	raw, err := rpc.Dispense(shared.PluginName)
	if err != nil {
		return shared.Outcome{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return raw.(shared.Worker).Invoke(ctx, shared.Call{ID: 1, Method: method, Task: shared.CallTask{ID: "t", Type: method, Attempt: 1}})
}

func requireNoCertVars(t *testing.T, out shared.Outcome) {
	t.Helper()
	require.Nil(t, out.Error)
	var env map[string]string
	require.NoError(t, json.Unmarshal(out.Result, &env))
	for _, k := range transportVars {
		require.NotContains(t, env, k, "the SDK removes the transport variables from its environment")
	}
}

// The handshake line: five fields with the host-issued scheme and in
// plaintext, six with AutoMTLS, the sixth the server's certificate as
// base64 (standard alphabet, no padding) of its DER, as go-plugin's own
// server prints it.
func TestNodePluginHandshakeLine(t *testing.T) {
	t.Parallel()
	node := testplugin.NeedNode(t)
	host, ch := issue(t)
	line := func(env ...string) []string {
		_, stdout, _ := runCommand(t, []string{node.Bin, node.TestWorker}, env...)
		l, err := stdout.ReadString('\n')
		require.NoError(t, err)
		fields := strings.Split(strings.TrimSuffix(l, "\n"), "|")
		require.GreaterOrEqual(t, len(fields), 5, l)
		require.Equal(t, []string{"1", "1", "unix"}, fields[:3])
		require.Equal(t, "grpc", fields[4])
		_, err = net.ResolveUnixAddr("unix", fields[3])
		require.NoError(t, err)
		return fields
	}
	require.Len(t, line(), 5, "plaintext")
	require.Len(t, line(ch.Env...), 5, "host-issued scheme")
	fields := line(shared.EnvHostCert + "=" + string(host.CertPEM))
	require.Len(t, fields, 6, "AutoMTLS")
	require.NotContains(t, fields[5], "=")
	der, err := base64.RawStdEncoding.DecodeString(fields[5])
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	require.Equal(t, []string{"localhost"}, cert.DNSNames)
	require.Equal(t, x509.ECDSA, cert.PublicKeyAlgorithm)
	require.Contains(t, cert.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	require.True(t, time.Now().After(cert.NotBefore) && time.Now().Before(cert.NotAfter))
	require.NoError(t, cert.CheckSignatureFrom(cert), "self-signed")
}

// A Node plugin that declares concurrency ({ concurrency: n } to serve)
// runs that many calls at once in one process; one that does not is
// refused a handler of concurrency above 1.
func TestNodePluginConcurrency(t *testing.T) {
	t.Parallel()
	cfg, _ := nodeSetup(t)
	cfg.Concurrency = 2
	_, err := New(context.Background(), NewSystem(1), cfg)
	require.ErrorIs(t, err, shared.ErrInvalidArgument)
	require.ErrorContains(t, err, "runs one call at a time")
	require.ErrorContains(t, err, "{ concurrency: n }")

	cfg.Concurrency, cfg.Method = 4, "meet"
	cfg.Env = map[string]string{"TESTWORKER_CONCURRENCY": "4"}
	p := newPool(t, NewSystem(1), cfg)
	got := meetAll(t, p, 4, 4, "a")
	for _, r := range got {
		require.Equal(t, got[0].PID, r.PID, "one process")
		require.Equal(t, int64(4), r.MaxActive)
	}
	require.Equal(t, uint64(1), p.Stats().Spawns)
}
