package store

import "context"

// WorkNotifier is a store shared by several nodes that tells each of them
// of the tasks the others create, so that an idle node with a handler of
// their type starts them at once instead of at its next poll.
type WorkNotifier interface {
	// ListenWork calls wake with the type of the tasks of every create
	// committed on the store, by any node, until ctx ends. It carries on
	// through lost connections (what is created meanwhile is found by
	// polling).
	ListenWork(ctx context.Context, wake func(typ string))
}

// FinalNotifier is a store shared by several nodes that passes on the
// final state of the tasks removed as they finish (retainFor 0), so that
// a watch of such a task on another node than the one that ran it still
// gets its end.
type FinalNotifier interface {
	// NotifyFinal sends the final states (compact task JSON, each at
	// most MaxFinalSize bytes) to every other node listening.
	NotifyFinal(ctx context.Context, tasks ...[]byte) error
	// ListenFinal calls fn with each final state another node (another
	// store on the same shared store) sends, until ctx ends, carrying on
	// through lost connections (what is sent meanwhile is lost). The
	// states this store sends are not passed back.
	ListenFinal(ctx context.Context, fn func(task []byte))
}

// MaxFinalSize bounds one final state for NotifyFinal: PostgreSQL's
// NOTIFY payload limit, less some room.
const MaxFinalSize = 7900
