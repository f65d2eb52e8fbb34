package host_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/shared"
)

// follow collects a subscription's changes until stop says it has seen
// enough, within a deadline.
func follow(t *testing.T, c *host.Changes, stop func([]host.Change) bool) []host.Change {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var got []host.Change
	for !stop(got) {
		batch, err := c.Next(ctx)
		require.NoError(t, err, "changes so far: %s", describeChanges(got))
		got = append(got, batch...)
	}
	return got
}

func describeChanges(cs []host.Change) string {
	s := ""
	for _, c := range cs {
		if c.Task == nil {
			s += fmt.Sprintf("[%s] ", c.Kind)
			continue
		}
		s += fmt.Sprintf("[%s %s %s] ", c.Kind, c.Task.ID[len(c.Task.ID)-4:], c.Task.Status)
	}
	return s
}

func TestSubscribeSeesEveryChangeOfEveryTask(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.register("echo", "echo")
	e.register("progress", "progress")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := e.h.Subscribe(ctx)

	kept := e.create("echo", `{"big":"payload"}`, host.CreateOptions{RetainFor: host.RetainForever})
	gone := e.create("echo", `2`, host.CreateOptions{})
	slow := e.create("progress", `{"steps":4,"delayMs":20}`, host.CreateOptions{RetainFor: host.RetainForever})

	has := func(cs []host.Change, kind host.ChangeKind, id string, status shared.Status) bool {
		for _, c := range cs {
			if c.Kind == kind && c.Task != nil && c.Task.ID == id && c.Task.Status == status {
				return true
			}
		}
		return false
	}
	got := follow(t, c, func(cs []host.Change) bool {
		return has(cs, host.ChangeUpdated, kept, shared.StatusSuccess) &&
			has(cs, host.ChangeRemoved, gone, shared.StatusSuccess) &&
			has(cs, host.ChangeUpdated, slow, shared.StatusSuccess)
	})
	for _, id := range []string{kept, gone, slow} {
		require.True(t, has(got, host.ChangeCreated, id, shared.StatusPending), describeChanges(got))
		require.True(t, has(got, host.ChangeUpdated, id, shared.StatusProcessing), describeChanges(got))
	}
	require.True(t, has(got, host.ChangeProgress, slow, shared.StatusProcessing), describeChanges(got))
	for _, ch := range got {
		require.Nil(t, ch.Task.Payload, "changes leave the payload out")
		require.Nil(t, ch.Task.Result, "changes leave the result out")
		if ch.Kind == host.ChangeUpdated && ch.Task.Status == shared.StatusProcessing {
			require.Equal(t, 1, ch.Task.Attempts, "a change carries the attempt")
		}
	}
	require.Equal(t, 1, e.get(kept).Attempts, "a get shows the attempts")

	// A remove of a retained task, then a cancelled context ends it all.
	require.NoError(t, e.h.Remove(context.Background(), kept))
	follow(t, c, func(cs []host.Change) bool { return has(cs, host.ChangeRemoved, kept, shared.StatusSuccess) })
	cancel()
	_, err := c.Next(context.Background())
	require.ErrorIs(t, err, shared.ErrClosed)
}

func TestSubscriberThatFallsBehindGetsOneResync(t *testing.T) {
	t.Parallel()
	e := setup(t)
	c := e.h.Subscribe(t.Context())
	tasks := make([]host.NewTask, 1500) // more than a subscriber may fall behind
	for i := range tasks {
		tasks[i] = host.NewTask{Type: "nohandler"}
	}
	_, err := e.h.CreateMany(context.Background(), tasks)
	require.NoError(t, err)
	got, err := c.Next(context.Background())
	require.NoError(t, err)
	require.Equal(t, []host.Change{{Kind: host.ChangeResync}}, got)

	// Then it goes on with what comes next.
	id := e.create("nohandler", `1`, host.CreateOptions{})
	got, err = c.Next(context.Background())
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, host.ChangeCreated, got[0].Kind)
	require.Equal(t, id, got[0].Task.ID)
}
