package pool

// Plugins run by a command (node and a script written with sdk/node): the
// script's checks and pin, and the transport security of the Node SDK
// with both schemes it speaks.

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
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

// copyScript copies the Node test plugin into the SDK's test fixtures
// under a name of the test's own, where it still resolves @taskhost/sdk.
func copyScript(t *testing.T, node testplugin.Node) string {
	t.Helper()
	b, err := os.ReadFile(node.TestWorker)
	require.NoError(t, err)
	path := filepath.Join(filepath.Dir(node.TestWorker), "copy-"+strings.ReplaceAll(t.Name(), "/", "-")+".mjs")
	require.NoError(t, os.WriteFile(path, b, 0o644))
	require.NoError(t, os.Chmod(path, 0o644))
	t.Cleanup(func() { os.Remove(path) })
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

// With go-plugin's AutoMTLS (the pool's default) a Node worker serves TLS
// with a certificate of its own, and answers only the host's client
// certificate: not a plaintext client, nor a TLS client with another
// certificate.
func TestNodePluginServesAutoMTLSToTheHostOnly(t *testing.T) {
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

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	methods := func(creds credentials.TransportCredentials) error {
		conn, err := grpc.NewClient("unix:"+addr.String(), grpc.WithTransportCredentials(creds))
		require.NoError(t, err)
		defer conn.Close()
		_, err = proto.NewWorkerClient(conn).Methods(ctx, &proto.MethodsRequest{})
		return err
	}
	require.Error(t, methods(insecure.NewCredentials()), "a plaintext client")

	stranger, _ := selfSigned(t, x509.ExtKeyUsageClientAuth)
	var state tls.ConnectionState
	stranger.InsecureSkipVerify = true
	stranger.VerifyConnection = func(cs tls.ConnectionState) error { state = cs; return nil }
	require.Error(t, methods(credentials.NewTLS(stranger)), "a TLS client whose certificate is not the host's")
	require.NotEmpty(t, state.PeerCertificates, "the TLS handshake itself went through")
	require.Equal(t, x509.Ed25519, state.PeerCertificates[0].PublicKeyAlgorithm)
	require.Equal(t, []string{"localhost"}, state.PeerCertificates[0].DNSNames)
	require.Equal(t, "h2", state.NegotiatedProtocol)

	// The pool's own client still works.
	callPID(t, p, `{}`)
}

// The host-issued scheme: the host hands the plugin a certificate and an
// Ed25519 key of its making (TASKHOST_PLUGIN_CERT, TASKHOST_PLUGIN_KEY)
// and its own certificate (PLUGIN_CLIENT_CERT); the plugin serves TLS 1.3
// with them, to the host's certificate only, and prints the handshake's
// usual five fields.
func TestNodePluginServesTheHostIssuedScheme(t *testing.T) {
	t.Parallel()
	node := testplugin.NeedNode(t)
	hostTLS, hostPEM := selfSigned(t, x509.ExtKeyUsageClientAuth)
	pluginTLS, pluginPEM := selfSigned(t, x509.ExtKeyUsageServerAuth)
	keyDER, err := x509.MarshalPKCS8PrivateKey(pluginTLS.Certificates[0].PrivateKey)
	require.NoError(t, err)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	env := []string{
		"TASKHOST_PLUGIN_CERT=" + pluginPEM,
		"TASKHOST_PLUGIN_KEY=" + string(keyPEM),
		"PLUGIN_CLIENT_CERT=" + hostPEM,
	}
	roots := x509.NewCertPool()
	roots.AddCert(pluginTLS.Certificates[0].Leaf)

	for _, tc := range []struct {
		name    string
		maxTLS  uint16
		wantErr string
	}{
		{"TLS 1.3", tls.VersionTLS13, ""},
		{"TLS 1.2 is refused", tls.VersionTLS12, "handshake"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(node.Bin, node.TestWorker)
			cmd.Env = env
			client := plugin.NewClient(&plugin.ClientConfig{
				HandshakeConfig:  shared.Handshake(),
				VersionedPlugins: shared.VersionedPlugins(nil),
				Cmd:              cmd,
				AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
				SkipHostEnv:      true,
				StartTimeout:     30 * time.Second,
				TLSConfig: &tls.Config{
					Certificates: hostTLS.Certificates,
					RootCAs:      roots,
					ServerName:   "localhost",
					MaxVersion:   tc.maxTLS,
				},
			})
			defer client.Kill()
			rpc, err := client.Client()
			require.NoError(t, err)
			raw, err := rpc.Dispense(shared.PluginName)
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out, err := raw.(shared.Worker).Invoke(ctx, shared.Call{ID: 1, Method: "env", Task: shared.CallTask{ID: "t", Type: "env", Attempt: 1}})
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Nil(t, out.Error)
			var got map[string]string
			require.NoError(t, json.Unmarshal(out.Result, &got))
			for _, k := range []string{"TASKHOST_PLUGIN_CERT", "TASKHOST_PLUGIN_KEY", "PLUGIN_CLIENT_CERT"} {
				require.NotContains(t, got, k, "the SDK removes the key material from its environment")
			}
		})
	}
}

// The handshake line: five fields with the host-issued scheme and in
// plaintext, six with AutoMTLS, the sixth the server's certificate as
// base64 (standard alphabet, no padding) of its DER, as go-plugin's own
// server prints it.
func TestNodePluginHandshakeLine(t *testing.T) {
	t.Parallel()
	node := testplugin.NeedNode(t)
	hostTLS, hostPEM := selfSigned(t, x509.ExtKeyUsageClientAuth)
	_ = hostTLS
	pluginTLS, pluginPEM := selfSigned(t, x509.ExtKeyUsageServerAuth)
	keyDER, err := x509.MarshalPKCS8PrivateKey(pluginTLS.Certificates[0].PrivateKey)
	require.NoError(t, err)
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	cookie := shared.Handshake().MagicCookieKey + "=" + shared.Handshake().MagicCookieValue

	line := func(env ...string) []string {
		cmd := exec.Command(node.Bin, node.TestWorker)
		cmd.Env = append(env, cookie, "PLUGIN_PROTOCOL_VERSIONS=1")
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		l, err := bufio.NewReader(stdout).ReadString('\n')
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
	require.Len(t, line("TASKHOST_PLUGIN_CERT="+pluginPEM, "TASKHOST_PLUGIN_KEY="+keyPEM, "PLUGIN_CLIENT_CERT="+hostPEM), 5, "host-issued scheme")
	fields := line("PLUGIN_CLIENT_CERT=" + hostPEM)
	require.Len(t, fields, 6, "AutoMTLS")
	require.NotContains(t, fields[5], "=")
	der, err := base64.RawStdEncoding.DecodeString(fields[5])
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	require.Equal(t, []string{"localhost"}, cert.DNSNames)
	require.Contains(t, cert.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	require.True(t, time.Now().After(cert.NotBefore) && time.Now().Before(cert.NotAfter))
	require.NoError(t, cert.CheckSignatureFrom(cert), "self-signed")
}

// selfSigned makes an Ed25519 certificate for localhost, as a TLS config
// holding it (with its Leaf) and as PEM.
func selfSigned(t *testing.T, usage x509.ExtKeyUsage) (*tls.Config, string) {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}}},
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
