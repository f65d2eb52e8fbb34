// Package pool runs method calls on handler plugins: subprocess workers
// started through go-plugin. It is the only place that starts plugin
// processes.
//
// A [Pool] serves one handler: it starts workers on demand up to the
// handler's cap and never more than the [System] cap shared by every pool,
// initialises each new worker, hands calls to idle workers in arrival
// order, reaps idle workers, and turns every way a plugin can fail (crash,
// hang, timeout, cancellation) into an error for the one call it hurt.
//
// The pool knows nothing about tasks in storage; a call is a payload and
// the metadata the method sees.
package pool
