// Package shared is the contract the taskhost host and its handler plugins
// agree on: the task model ([Task], [Status], [TaskError],
// [ScheduledTaskTime]), the sentinel errors, the gRPC wire protocol
// (package shared/proto), the go-plugin handshake, the transport security
// of the channel ([Identity], [PluginTLS], [PluginTLSConfig]) and the
// [WorkerPlugin] adapters that translate between the wire and the [Worker]
// interface.
//
// It must not know about storage, processes or HTTP: the host and the SDK
// import it; it imports nothing of ours.
package shared
