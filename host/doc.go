// Package host is the taskhost task engine, twin's IBackgroundTaskComponent
// in Go: register handlers (plugin binaries and a method they export),
// create tasks, and let the engine run them on worker pools, retry them,
// retain them and report every state change.
//
// # Flow of one task
//
// [Host.Create] writes the task pending (durably) and wakes its type's
// dispatcher. The dispatcher claims the earliest-due task in the same
// store transaction that makes it processing, hands it to the handler's
// worker pool, and writes the outcome: success, pending again for a
// retry, failed, or cancelled. Retention then keeps or removes it.
//
// # Following it
//
// [Host.Watch] follows one task; [Host.Subscribe] gets every change of
// every task this host makes (the dashboard's live view); [Host.Activity]
// says what it did in each second of the last 15 minutes.
//
// The engine is the only place that joins storage ([store.Store]) and
// processes (the internal worker pools); it knows nothing about HTTP.
package host
