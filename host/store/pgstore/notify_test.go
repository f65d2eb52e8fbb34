package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/host/store/pgstore/pgtest"
	"github.com/taskhost/taskhost/shared"
)

// A create on one store wakes the listeners of every store on the schema,
// once per type; another schema's listeners hear nothing.
func TestListenWork(t *testing.T) {
	t.Parallel()
	url, schema := pgtest.Schema(t)
	a, b := openSchema(t, url, schema), openSchema(t, url, schema)
	_, otherSchema := pgtest.Schema(t)
	other := openSchema(t, url, otherSchema)

	var mu sync.Mutex
	var heard, heardOther []string
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		b.ListenWork(ctx, func(typ string) { mu.Lock(); heard = append(heard, typ); mu.Unlock() })
	})
	wg.Go(func() {
		other.ListenWork(ctx, func(typ string) { mu.Lock(); heardOther = append(heardOther, typ); mu.Unlock() })
	})
	t.Cleanup(func() { cancel(); wg.Wait() })

	now := time.Now().UTC().Truncate(time.Millisecond)
	task := func(id, typ string) *store.Record {
		return &store.Record{Task: shared.Task{ID: id, Type: typ, ThreadID: "main", Status: shared.StatusPending, DateCreated: now, DateModified: now}}
	}
	// Until the listener listens, creates are not heard: create until one is.
	ids := make(chan string, 1000)
	for range 1000 {
		ids <- newID(t)
	}
	require.Eventually(t, func() bool {
		if err := a.Create(t.Context(), task(<-ids, "warmup")); err != nil {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		return len(heard) > 0
	}, 20*time.Second, 50*time.Millisecond)

	require.NoError(t, a.Create(t.Context(), task(newID(t), "x"), task(newID(t), "y"), task(newID(t), "x")))
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(withoutWarmup(heard)) >= 2
	}, 20*time.Second, 5*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	got := withoutWarmup(heard)
	slices.Sort(got)
	require.Equal(t, []string{"x", "y"}, got, "one notification per type and create")
	require.Empty(t, heardOther, "another schema is another cluster")
}

func newID(t *testing.T) string {
	t.Helper()
	var b [16]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return hex.EncodeToString(b[:])
}

func withoutWarmup(types []string) []string {
	return slices.DeleteFunc(slices.Clone(types), func(t string) bool { return t == "warmup" })
}
