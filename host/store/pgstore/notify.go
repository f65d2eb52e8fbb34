package pgstore

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taskhost/taskhost/host/store"
)

var _ store.WorkNotifier = (*Store)(nil)

// workChannel is the NOTIFY channel of the creates in schema: database
// wide, so named after the schema; an identifier holds 63 bytes.
func workChannel(schema string) string {
	if c := schema + "_work"; len(c) <= 63 {
		return c
	}
	h := fnv.New64a()
	h.Write([]byte(schema))
	return fmt.Sprintf("%s_%x_work", schema[:40], h.Sum64())
}

// ListenWork listens on the work channel on a connection of its own; a
// lost connection is made again after a second.
func (s *Store) ListenWork(ctx context.Context, wake func(typ string)) {
	for {
		err := s.listenWork(ctx, wake)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("listening for the tasks other nodes create failed; listening again in 1s (polls find them meanwhile)", "error", err)
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return
		}
	}
}

func (s *Store) listenWork(ctx context.Context, wake func(typ string)) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	pooled, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// Taken out of the pool for good: a connection that listens must not
	// serve other statements, nor go back listening.
	conn := pooled.Hijack()
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return err
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		wake(n.Payload)
	}
}
