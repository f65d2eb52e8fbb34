package metrics_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/metrics"
	"github.com/taskhost/taskhost/host/store/badgerstore"
)

// Wiring as taskhost serve does it: the metrics first, then the store
// with its hooks, the host with the metrics as Observer, and Track.
func Example() {
	m := metrics.New(metrics.Options{})
	st, err := badgerstore.Open("", badgerstore.Options{InMemory: true, OnSync: m.StoreSynced, OnCommit: m.StoreCommitted})
	if err != nil {
		panic(err)
	}
	defer st.Close()
	h, err := host.New(st, host.Options{Observer: m})
	if err != nil {
		panic(err)
	}
	if err := m.Track(h, st); err != nil {
		panic(err)
	}
	// No handler is registered for the type: the task waits.
	if _, err := h.Create(context.Background(), "image-resize", nil, host.CreateOptions{}); err != nil {
		panic(err)
	}

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	lines := bufio.NewScanner(rec.Body)
	for lines.Scan() {
		if strings.HasPrefix(lines.Text(), "taskhost_tasks_created_total{") || strings.HasPrefix(lines.Text(), "taskhost_queue_depth{") {
			fmt.Println(lines.Text())
		}
	}
	// Output:
	// taskhost_queue_depth{status="pending",type="image-resize"} 1
	// taskhost_queue_depth{status="processing",type="image-resize"} 0
	// taskhost_tasks_created_total{type="image-resize"} 1
}
