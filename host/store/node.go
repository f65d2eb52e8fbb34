package store

import (
	"context"
	"time"

	"github.com/taskhost/taskhost/shared"
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

// Progress is the last progress a running task reported, under its claim.
type Progress struct {
	Lease
	Progress shared.Progress
}

// ProgressStore is a store that several nodes share, which keeps the
// progress of running tasks so that every node shows it (Get, watches)
// wherever the task runs.
type ProgressStore interface {
	// SaveProgress records each task's progress if it is still
	// processing under that claim (fenced as Store.Update is) and returns
	// the ids of those that are not, whose progress it dropped.
	SaveProgress(ctx context.Context, progress []Progress) (lost []string, err error)
}
