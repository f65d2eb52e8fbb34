package store

import "context"

type committedKey struct{}

// WithCommitted returns a copy of ctx that makes a write given it call fn
// as soon as its change is visible to the store's other calls (Claim
// above all), which may be before the change is durable and the write
// returns. The engine uses it to start claiming new tasks while their
// create is still being synced. A backend calls fn at most once per
// write, on the writing goroutine and only for a write that changed
// something; a backend may also never call it. fn must be quick and must
// not block. Like net/http/httptrace, it is a hook in the context: it
// changes nothing about what the write does.
func WithCommitted(ctx context.Context, fn func()) context.Context {
	return context.WithValue(ctx, committedKey{}, fn)
}

// Committed returns the hook WithCommitted put in ctx, or nil. For
// backends.
func Committed(ctx context.Context) func() {
	fn, _ := ctx.Value(committedKey{}).(func())
	return fn
}
