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
