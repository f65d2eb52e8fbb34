package store

import (
	"context"
	"time"
)

// Node is one host sharing a store, as its heartbeats record it.
type Node struct {
	ID string `json:"id"`
	// Address is where its API listens.
	Address       string    `json:"address,omitempty"`
	Started       time.Time `json:"started"`
	LastHeartbeat time.Time `json:"lastHeartbeat"`
	// Handlers are the task types it has handlers for, sorted.
	Handlers []string `json:"handlers"`
	// Running is how many tasks it was running at its last heartbeat.
	Running int `json:"running"`
}

// NodeStore is a store that several nodes share, which keeps their
// heartbeats so that any of them can list the others.
type NodeStore interface {
	// Heartbeat records n, replacing what was recorded of its id.
	Heartbeat(ctx context.Context, n Node) error
	// Nodes lists the nodes whose last heartbeat is at or after since, by
	// id, and forgets the others.
	Nodes(ctx context.Context, since time.Time) ([]Node, error)
	// RemoveNode forgets node id (it stopped); no error if it is unknown.
	RemoveNode(ctx context.Context, id string) error
}
