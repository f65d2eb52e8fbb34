package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/host/store/pgstore"
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

// TestNotifyFinal: final states sent by one store reach the others on the
// schema, each once and whole, however many are packed together (here
// more than fit in one notification, one of them of the largest size),
// and never the store that sent them.
func TestNotifyFinal(t *testing.T) {
	t.Parallel()
	url, schema := pgtest.Schema(t)
	a, b := openSchema(t, url, schema), openSchema(t, url, schema)

	var mu sync.Mutex
	heardA, heardB := map[string]int{}, map[string]int{}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { a.ListenFinal(ctx, func(p []byte) { mu.Lock(); heardA[string(p)]++; mu.Unlock() }) })
	wg.Go(func() { b.ListenFinal(ctx, func(p []byte) { mu.Lock(); heardB[string(p)]++; mu.Unlock() }) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	// Until the listener listens, nothing is heard: send until one is.
	require.Eventually(t, func() bool {
		require.NoError(t, a.NotifyFinal(t.Context(), []byte(`{"id":"warmup"}`)))
		mu.Lock()
		defer mu.Unlock()
		return heardB[`{"id":"warmup"}`] > 0
	}, 20*time.Second, 50*time.Millisecond)

	var sent [][]byte
	for i := range 100 {
		sent = append(sent, []byte(`{"id":"`+newID(t)+`","n":`+strings.Repeat("1", 1+i*10)+`}`))
	}
	big := `{"id":"big","pad":"` + strings.Repeat("x", store.MaxFinalSize-len(`{"id":"big","pad":""}`)) + `"}`
	sent = append(sent, []byte(big))
	require.NoError(t, a.NotifyFinal(t.Context(), sent...))
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return heardB[big] > 0 && heardB[string(sent[99])] > 0
	}, 20*time.Second, 5*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for _, p := range sent {
		require.Equal(t, 1, heardB[string(p)], "heard once: %.40s", p)
	}
	require.Empty(t, heardA, "a store does not hear its own final states")
	mu.Unlock()

	// A node from before states were packed sends one state, no origin.
	old := `{"id":"` + newID(t) + `","status":"success"}`
	_, err := a.Pool().Exec(t.Context(), "SELECT pg_notify($1, $2)", a.FinalChannel(), old)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return heardB[old] == 1 && heardA[old] == 1
	}, 20*time.Second, 5*time.Millisecond, "an unpacked state is heard whole, by every store")
	mu.Lock()

	require.Error(t, a.NotifyFinal(t.Context(), []byte("{\n}")), "a state with a newline is refused")
	require.Error(t, a.NotifyFinal(t.Context(), []byte(big+" ")), "a state over MaxFinalSize is refused")
}

// TestWorkNotifyDebounce: creates of one type in quick succession
// notify once at the first and once more when the interval ends, after
// the last of them: not once each, and none goes unannounced.
func TestWorkNotifyDebounce(t *testing.T) {
	t.Parallel()
	url, schema := pgtest.Schema(t)
	const interval = 2 * time.Second
	a, err := pgstore.Open(t.Context(), url, pgstore.Options{Schema: schema, WorkNotifyInterval: interval})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, a.Close()) })
	b := openSchema(t, url, schema)

	type heard struct {
		typ string
		at  time.Time
	}
	var mu sync.Mutex
	var got []heard
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		b.ListenWork(ctx, func(typ string) { mu.Lock(); got = append(got, heard{typ, time.Now()}); mu.Unlock() })
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	now := time.Now().UTC().Truncate(time.Millisecond)
	task := func(typ string) *store.Record {
		return &store.Record{Task: shared.Task{ID: newID(t), Type: typ, ThreadID: "main", Status: shared.StatusPending, DateCreated: now, DateModified: now}}
	}
	// Until the listener listens, creates are not heard: create until one
	// is (each warm-up type new, so each notifies at once).
	require.Eventually(t, func() bool {
		require.NoError(t, a.Create(t.Context(), task("warmup-"+newID(t))))
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 0
	}, 20*time.Second, 50*time.Millisecond)

	const creates = 50
	var beforeLast time.Time
	for i := range creates {
		if i == creates-1 {
			beforeLast = time.Now()
		}
		require.NoError(t, a.Create(t.Context(), task("z")))
	}
	count := func() (n int, last time.Time) {
		mu.Lock()
		defer mu.Unlock()
		for _, h := range got {
			if h.typ == "z" {
				n++
				last = h.at
			}
		}
		return n, last
	}
	require.Eventually(t, func() bool {
		_, last := count()
		return last.After(beforeLast)
	}, 10*interval, 10*time.Millisecond, "the last create is announced")
	n, _ := count()
	// 50 creates take well under the 2 s interval: the first notifies,
	// the trailing one covers the rest (more if the machine is very slow).
	require.GreaterOrEqual(t, n, 2)
	require.LessOrEqual(t, n, 5, "debounced, not one per create")
}
