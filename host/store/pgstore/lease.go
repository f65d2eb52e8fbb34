package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taskhost/taskhost/host/store"
)

var (
	_ store.NodeStore     = (*Store)(nil)
	_ store.ProgressStore = (*Store)(nil)
)

// Renew runs renew_leases.sql: one statement for every lease.
func (s *Store) Renew(ctx context.Context, owner string, until time.Time, leases []store.Lease) ([]string, error) {
	if err := s.enter(ctx); err != nil {
		return nil, fmt.Errorf("renew leases: %w", err)
	}
	if len(leases) == 0 {
		return nil, nil
	}
	ids := make([]string, len(leases))
	attempts := make([]int32, len(leases))
	for i, l := range leases {
		ids[i], attempts[i] = l.ID, int32(l.Attempt)
	}
	rows, _ := s.pool.Query(ctx, s.sql.renewLeases, owner, until, ids, attempts)
	renewed, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("renew leases: %w", err)
	}
	return missing(ids, renewed), nil
}

// SaveProgress runs save_progress.sql: one statement for every task.
func (s *Store) SaveProgress(ctx context.Context, progress []store.Progress) ([]string, error) {
	if err := s.enter(ctx); err != nil {
		return nil, fmt.Errorf("save progress: %w", err)
	}
	if len(progress) == 0 {
		return nil, nil
	}
	ids := make([]string, len(progress))
	attempts := make([]int32, len(progress))
	values := make([][]byte, len(progress))
	for i, p := range progress {
		b, err := json.Marshal(p.Progress)
		if err != nil {
			return nil, fmt.Errorf("save progress of task %s: %w", p.ID, err)
		}
		ids[i], attempts[i], values[i] = p.ID, int32(p.Attempt), b
	}
	rows, _ := s.pool.Query(ctx, s.sql.saveProgress, ids, attempts, values)
	saved, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("save progress: %w", err)
	}
	return missing(ids, saved), nil
}

// missing lists the ids not in got, in the order of ids.
func missing(ids, got []string) []string {
	seen := make(map[string]bool, len(got))
	for _, id := range got {
		seen[id] = true
	}
	var out []string
	for _, id := range ids {
		if !seen[id] {
			out = append(out, id)
		}
	}
	return out
}

// DeleteClaimed runs delete_claimed.sql; when it removes nothing,
// task_state.sql says why.
func (s *Store) DeleteClaimed(ctx context.Context, l store.Lease) error {
	if err := s.enter(ctx); err != nil {
		return fmt.Errorf("delete task: %w", err)
	}
	start := time.Now()
	n, err := s.writes.Do(ctx, write{l.ID, s.sql.deleteClaimed, []any{l.ID, l.Attempt}})
	if err != nil {
		return fmt.Errorf("delete task: %w", err)
	}
	if n == 1 {
		s.wrote(ctx, start)
		return nil
	}
	status, attempts, err := s.state(ctx, l.ID)
	if err != nil {
		return err // not found, said once
	}
	return fmt.Errorf("delete task: task %s is %s at attempt %d, not processing at attempt %d: %w",
		l.ID, status, attempts, l.Attempt, store.ErrConflict)
}

// Heartbeat runs heartbeat.sql.
func (s *Store) Heartbeat(ctx context.Context, n store.Node) error {
	if err := s.enter(ctx); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	handlers := n.Handlers
	if handlers == nil {
		handlers = []string{}
	}
	if _, err := s.pool.Exec(ctx, s.sql.heartbeat, n.ID, n.Address, n.Started, n.LastHeartbeat, handlers, n.Running); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// Nodes forgets the nodes silent since before since, then lists the rest.
func (s *Store) Nodes(ctx context.Context, since time.Time) ([]store.Node, error) {
	if err := s.enter(ctx); err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	if _, err := s.pool.Exec(ctx, s.sql.forgetNodes, since); err != nil {
		return nil, fmt.Errorf("forget silent nodes: %w", err)
	}
	rows, _ := s.pool.Query(ctx, s.sql.listNodes)
	nodes, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Node, error) {
		var n store.Node
		err := row.Scan(&n.ID, &n.Address, &n.Started, &n.LastHeartbeat, &n.Handlers, &n.Running)
		n.Started, n.LastHeartbeat = n.Started.UTC(), n.LastHeartbeat.UTC()
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	return nodes, nil
}

// RemoveNode runs remove_node.sql.
func (s *Store) RemoveNode(ctx context.Context, id string) error {
	if err := s.enter(ctx); err != nil {
		return fmt.Errorf("remove node: %w", err)
	}
	if _, err := s.pool.Exec(ctx, s.sql.removeNode, id); err != nil {
		return fmt.Errorf("remove node %s: %w", id, err)
	}
	return nil
}
