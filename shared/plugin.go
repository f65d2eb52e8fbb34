package shared

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/taskhost/taskhost/shared/proto"
)

// The worker protocol versions (see worker.proto). go-plugin negotiates
// the version: a host lists every version it supports in
// [VersionedPlugins], a plugin serves the highest of them it knows.
const (
	// ProtocolUnary runs each method call as a unary Invoke.
	ProtocolUnary = 1
	// ProtocolCalls sends a worker's calls on one Calls stream.
	ProtocolCalls = 2
	// ProtocolVersion is the newest version this build speaks.
	ProtocolVersion = ProtocolCalls
)

// PluginName is the key of the worker plugin in go-plugin's plugin set.
const PluginName = "worker"

// Handshake is the go-plugin handshake both sides must agree on. It is a
// function rather than a variable so that nobody can change it at run time.
func Handshake() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  ProtocolUnary,
		MagicCookieKey:   "TASKHOST_PLUGIN",
		MagicCookieValue: "b7d3f0c1-taskhost-worker",
	}
}

// VersionedPlugins is the plugin set for each supported protocol version.
// impl is the server-side implementation; the host passes nil.
func VersionedPlugins(impl Worker) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		ProtocolUnary: {PluginName: &WorkerPlugin{Impl: impl}},
		ProtocolCalls: {PluginName: &WorkerPlugin{Impl: impl, calls: true}},
	}
}

// WorkerPlugin is the go-plugin glue for [Worker] over gRPC.
type WorkerPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl is the plugin-side implementation; unused on the host.
	Impl Worker
	// calls: the negotiated protocol has the Calls stream.
	calls bool
}

var _ plugin.GRPCPlugin = (*WorkerPlugin)(nil)

// GRPCServer registers the worker service in the plugin process.
func (p *WorkerPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	proto.RegisterWorkerServer(s, &GRPCServer{Impl: p.Impl})
	return nil
}

// GRPCClient returns the host-side [Worker]. ctx is go-plugin's
// process-lifetime context: it is done once the plugin process has exited.
func (p *WorkerPlugin) GRPCClient(ctx context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &GRPCClient{client: proto.NewWorkerClient(c), doneCtx: ctx, callsProtocol: p.calls}, nil
}
