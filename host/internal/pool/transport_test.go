package pool

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/taskhost/taskhost/host/internal/testlog"
	"github.com/taskhost/taskhost/host/internal/testplugin"
	"github.com/taskhost/taskhost/shared"
	"github.com/taskhost/taskhost/shared/proto"
)

// transportVars are the variables that carry the transport security.
var transportVars = []string{shared.EnvHostCert, shared.EnvPluginCert, shared.EnvPluginKey}

// startEnv is what the worker pid was started with, from
// /proc/<pid>/environ: unlike its os.Environ, it keeps what the process
// removed since.
func startEnv(t *testing.T, pid int) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	require.NoError(t, err)
	env := map[string]string{}
	for kv := range strings.SplitSeq(strings.TrimSuffix(string(raw), "\x00"), "\x00") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

func callLines(t *testing.T, p *Pool, method string) []string {
	t.Helper()
	out, err := p.Call(context.Background(), Request{Payload: json.RawMessage(`{}`), Task: shared.CallTask{ID: "t1", Type: "test", Attempt: 1}}, nil)
	require.NoError(t, err)
	var lines []string
	require.NoError(t, json.Unmarshal(out, &lines))
	return lines
}

func requireNoTransportVars(t *testing.T, lines []string, where string) {
	t.Helper()
	for _, kv := range lines {
		for _, name := range transportVars {
			require.False(t, strings.HasPrefix(kv, name+"="), "%s has %s", where, name)
		}
	}
}

// Each worker gets a certificate and key of its own, and the host's
// certificate, which is the same for every pool of a system; the plugin
// keeps none of them in its environment, so its children inherit none.
func TestWorkersGetTheirOwnIdentityAndPassNoneOnToChildren(t *testing.T) {
	t.Parallel()
	sys := NewSystem(2)
	cfg := setup(t)
	cfg.Env = map[string]string{"REGION": "eu-1"}
	a := newPool(t, sys, cfg)
	b := newPool(t, sys, cfg)
	envA, envB := startEnv(t, callPID(t, a, `{}`)), startEnv(t, callPID(t, b, `{}`))

	host, err := sys.identity()
	require.NoError(t, err)
	for _, env := range []map[string]string{envA, envB} {
		require.Equal(t, string(host.CertPEM), env[shared.EnvHostCert])
		require.Contains(t, env[shared.EnvPluginCert], "-----BEGIN CERTIFICATE-----")
		require.Contains(t, env[shared.EnvPluginKey], "-----BEGIN PRIVATE KEY-----")
	}
	require.NotEqual(t, envA[shared.EnvPluginCert], envB[shared.EnvPluginCert])
	require.NotEqual(t, envA[shared.EnvPluginKey], envB[shared.EnvPluginKey])

	cfg.Method = "env"
	requireNoTransportVars(t, callLines(t, newPool(t, sys, cfg), "env"), "the plugin's os.Environ")
	cfg.Method = "childenv"
	child := callLines(t, newPool(t, sys, cfg), "childenv")
	require.Contains(t, child, "REGION=eu-1", "the child's environment was read")
	requireNoTransportVars(t, child, "the environment of the plugin's child")
}

// A worker's identity is issued ahead of its start, and each is given to
// one start only, however many start at once.
func TestIdentitiesIssuedAheadServeOneStartEach(t *testing.T) {
	t.Parallel()
	sys := NewSystem(1)
	first, err := sys.pluginTLS()
	require.NoError(t, err)
	var spare *shared.PluginTLS
	eventually(t, "a spare identity made", func() bool {
		sys.tlsMu.Lock()
		defer sys.tlsMu.Unlock()
		spare = sys.spare
		return spare != nil
	})
	second, err := sys.pluginTLS()
	require.NoError(t, err)
	require.Equal(t, spare.Env, second.Env, "the next start takes the spare")

	const n = 16
	envs := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			ch, err := sys.pluginTLS()
			assert.NoError(t, err)
			envs <- strings.Join(ch.Env, "\n")
		})
	}
	wg.Wait()
	close(envs)
	seen := map[string]bool{strings.Join(first.Env, "\n"): true, strings.Join(second.Env, "\n"): true}
	for env := range envs {
		require.False(t, seen[env], "an identity given to two starts")
		seen[env] = true
	}
	require.Len(t, seen, n+2)
}

// go-plugin's services beside the worker's run over the same channel: the
// plugin's stdout reaches the host's log through the stdio stream, and a
// stopped worker exits by itself when the controller asks it to (else
// go-plugin kills it after 2 s).
func TestStdioAndControllerWorkOverMutualTLS(t *testing.T) {
	t.Parallel()
	logger, logs := testlog.New(hclog.Info)
	cfg := setup(t)
	// The worker is kept until the line has reached the host: stopped at
	// once (idle shutdown 0), it could exit before its stdio stream had
	// carried the line, and the line was lost (1 run in 10 here).
	cfg.Method, cfg.Logger, cfg.IdleShutdownTimeout = "print", logger, KeepForever
	p := newPool(t, NewSystem(1), cfg)
	_, err := call(t, p, `{"Line":"printed over mutual TLS"}`)
	require.NoError(t, err)
	eventually(t, "the printed line", func() bool { return len(logs.Matching("printed over mutual TLS", "stream=stdout")) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, p.Close(ctx), "the controller stops the worker")
	eventually(t, "the worker's exit", func() bool { return len(logs.Matching("worker exited")) == 1 })
	require.Contains(t, logs.Matching("worker exited")[0], `status="exit status 0"`, logs.String())
	require.Empty(t, logs.Matching("failed to exit gracefully"), logs.String())
}

func TestDisableMTLSPassesNoCertificate(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.DisableMTLS = true
	env := startEnv(t, callPID(t, newPool(t, NewSystem(1), cfg), `{}`))
	for _, name := range transportVars {
		require.NotContains(t, env, name)
	}
	require.Contains(t, env, "TASKHOST_PLUGIN", "the environment was read")

	// A plugin that never speaks TLS works with it off.
	cfg.Env = map[string]string{"TESTWORKER_PLAIN": "1"}
	callPID(t, newPool(t, NewSystem(1), cfg), `{}`)
}

// newFailingPool checks that New refuses cfg, quickly (not by running
// into its start timeout) and leaving no process behind.
func newFailingPool(t *testing.T, cfg Config) error {
	t.Helper()
	cfg.Path = ownBinary(t)
	cfg.StartTimeout = time.Minute
	t0 := time.Now()
	_, err := New(context.Background(), NewSystem(1), cfg)
	require.ErrorIs(t, err, shared.ErrInvalidArgument)
	require.Less(t, time.Since(t0), 20*time.Second, "failed by its start timeout: %v", err)
	require.Empty(t, testplugin.Running(cfg.Path))
	return err
}

func TestHostRefusesAPluginPresentingAnotherCertificate(t *testing.T) {
	t.Parallel()
	foreign, err := shared.NewIdentity()
	require.NoError(t, err)
	cfg := setup(t)
	cfg.Env = map[string]string{"TESTWORKER_FOREIGN_CERT": string(foreign.CertPEM), "TESTWORKER_FOREIGN_KEY": string(foreign.KeyPEM)}
	err = newFailingPool(t, cfg)
	require.ErrorContains(t, err, "no mutual TLS channel")
	require.ErrorContains(t, err, "a certificate other than the one the host issued")
}

func TestHostRefusesAPluginThatDoesNotSpeakTLS(t *testing.T) {
	t.Parallel()
	cfg := setup(t)
	cfg.Env = map[string]string{"TESTWORKER_PLAIN": "1"}
	err := newFailingPool(t, cfg)
	require.ErrorContains(t, err, "no mutual TLS channel")
	require.ErrorContains(t, err, "authentication handshake failed")
}

// issue makes a host identity and issues a plugin's, as a pool does.
func issue(t *testing.T) (*shared.Identity, shared.PluginTLS) {
	t.Helper()
	host, err := shared.NewIdentity()
	require.NoError(t, err)
	ch, err := host.NewPluginTLS()
	require.NoError(t, err)
	return host, ch
}

// runPlugin starts the test worker as go-plugin's client would, with env
// added, and returns it and its stdout.
func runPlugin(t *testing.T, env ...string) (*exec.Cmd, *bufio.Reader, *bytes.Buffer) {
	t.Helper()
	return runCommand(t, []string{testworker}, env...)
}

// runCommand is runPlugin for the plugin that argv runs.
func runCommand(t *testing.T, argv []string, env ...string) (*exec.Cmd, *bufio.Reader, *bytes.Buffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	hs := shared.Handshake()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append([]string{
		hs.MagicCookieKey + "=" + hs.MagicCookieValue,
		fmt.Sprintf("PLUGIN_PROTOCOL_VERSIONS=%d", hs.ProtocolVersion),
	}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd, bufio.NewReader(stdout), &stderr
}

// The plugin serves only a client that presents the host's certificate.
func TestPluginRefusesClientsWithoutTheHostCertificate(t *testing.T) {
	t.Parallel()
	_, ch := issue(t)
	_, stdout, _ := runPlugin(t, ch.Env...)
	line, err := stdout.ReadString('\n')
	require.NoError(t, err)
	// core version|app version|network|address|protocol|certificate
	parts := strings.Split(strings.TrimSpace(line), "|")
	require.Len(t, parts, 6, "handshake line %q", line)
	require.Equal(t, []string{"unix", "grpc", ""}, []string{parts[2], parts[4], parts[5]})
	addr := parts[3]

	methods := func(creds credentials.TransportCredentials) error {
		conn, err := grpc.NewClient("passthrough:///plugin", grpc.WithTransportCredentials(creds),
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", addr)
			}))
		require.NoError(t, err)
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = proto.NewWorkerClient(conn).Methods(ctx, &proto.MethodsRequest{})
		return err
	}
	// The plugin's verdict on a client's certificate, as the alert it
	// sends after the client's half of a TLS 1.3 handshake.
	verdict := func(cfg *tls.Config) error {
		conn, err := net.Dial("unix", addr)
		require.NoError(t, err)
		defer conn.Close()
		require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
		tc := tls.Client(conn, cfg)
		require.NoError(t, tc.Handshake())
		_, err = tc.Read(make([]byte, 1))
		return err
	}

	require.NoError(t, methods(credentials.NewTLS(ch.Config)), "the host's own config")

	noCert := ch.Config.Clone()
	noCert.Certificates = nil
	require.ErrorContains(t, verdict(noCert), "remote error: tls: certificate required")
	require.Equal(t, codes.Unavailable, status.Code(methods(credentials.NewTLS(noCert))))

	other, err := shared.NewIdentity()
	require.NoError(t, err)
	otherCert := ch.Config.Clone()
	otherCert.Certificates = []tls.Certificate{other.Certificate}
	require.ErrorContains(t, verdict(otherCert), "remote error: tls: bad certificate")
	require.Equal(t, codes.Unavailable, status.Code(methods(credentials.NewTLS(otherCert))))

	require.Equal(t, codes.Unavailable, status.Code(methods(insecure.NewCredentials())), "plain gRPC")
}

func TestPluginWithIncompleteTransportVariablesExits(t *testing.T) {
	t.Parallel()
	host, ch := issue(t)
	for name, tc := range map[string]struct {
		env  []string
		want string
	}{
		"no key":         {ch.Env[:2], "TASKHOST_PLUGIN_KEY] not set"},
		"key of another": {append(ch.Env[:2:2], shared.EnvPluginKey+"="+string(host.KeyPEM)), "private key does not match public key"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd, stdout, stderr := runPlugin(t, tc.env...)
			out, _ := stdout.ReadString('\n')
			require.Empty(t, out, "no handshake")
			err := cmd.Wait()
			require.Equal(t, 1, cmd.ProcessState.ExitCode(), "%v", err)
			require.Contains(t, stderr.String(), "taskhost plugin: transport security: ")
			require.Contains(t, stderr.String(), tc.want)
		})
	}
}
