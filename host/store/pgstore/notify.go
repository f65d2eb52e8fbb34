package pgstore

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taskhost/taskhost/host/store"
)

var (
	_ store.WorkNotifier  = (*Store)(nil)
	_ store.FinalNotifier = (*Store)(nil)
)

// channelName is a NOTIFY channel of schema: channels are database wide,
// so named after the schema; an identifier holds 63 bytes.
func channelName(schema, suffix string) string {
	if c := schema + "_" + suffix; len(c) <= 63 {
		return c
	}
	h := fnv.New64a()
	h.Write([]byte(schema))
	return fmt.Sprintf("%s_%x_%s", schema[:40], h.Sum64(), suffix)
}

// ListenWork listens on the work channel on a connection of its own; a
// lost connection is made again after a second.
func (s *Store) ListenWork(ctx context.Context, wake func(typ string)) {
	s.listenLoop(ctx, s.channel, "the tasks other nodes create (polls find them meanwhile)", wake)
}

// NotifyFinal sends the final states on the final channel, packed into
// as few notifications as fit: each is the sending store's origin, then
// the states, a line each (compact JSON holds no newline). Notifications
// are what costs, for the server and for every listener, not bytes.
func (s *Store) NotifyFinal(ctx context.Context, tasks ...[]byte) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	batch := &pgx.Batch{}
	var msg []byte
	send := func() {
		if len(msg) > len(s.origin) {
			batch.Queue("SELECT pg_notify($1, $2)", s.finalChannel, string(msg))
		}
		msg = append(msg[:0:0], s.origin...)
	}
	send()
	for _, t := range tasks {
		switch {
		case len(t) > store.MaxFinalSize:
			return fmt.Errorf("notify final state: %d bytes: the limit is %d", len(t), store.MaxFinalSize)
		case bytes.IndexByte(t, '\n') >= 0:
			return fmt.Errorf("notify final state: a state holds a newline: want compact JSON")
		case len(msg)+1+len(t) > maxNotifySize:
			send()
		}
		msg = append(append(msg, '\n'), t...)
	}
	send()
	if err := s.pool.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("notify final state: %w", err)
	}
	return nil
}

// maxNotifySize is PostgreSQL's limit on a NOTIFY payload, less one.
const maxNotifySize = 7999

// ListenFinal listens on the final channel on a connection of its own,
// and passes on the states other stores send.
func (s *Store) ListenFinal(ctx context.Context, fn func(task []byte)) {
	s.listenLoop(ctx, s.finalChannel, "the final states of tasks other nodes finish", func(p string) {
		origin, states, packed := strings.Cut(p, "\n")
		if !packed {
			// One state, no origin: a node from before states were packed
			// (during a rolling upgrade).
			fn([]byte(p))
			return
		}
		if origin == s.origin {
			return
		}
		for state := range strings.SplitSeq(states, "\n") {
			fn([]byte(state))
		}
	})
}

// listenLoop listens on channel until ctx ends, listening again a second
// after a lost connection.
func (s *Store) listenLoop(ctx context.Context, channel, what string, fn func(payload string)) {
	for {
		err := s.listen(ctx, channel, fn)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("listening for "+what+" failed; listening again in 1s", "error", err)
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return
		}
	}
}

func (s *Store) listen(ctx context.Context, channel string, fn func(payload string)) error {
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
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		fn(n.Payload)
	}
}
