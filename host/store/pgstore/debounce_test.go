package pgstore

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A create that commits while a trailing notification is being sent gets
// one of its own: the one going out may have left before its commit.
func TestDebounceCreateDuringTrailingSend(t *testing.T) {
	t.Parallel()
	sent := make(chan string, 4)
	var d *debouncer
	d = newDebouncer(5*time.Millisecond, func(typ string) {
		if len(sent) == 0 {
			// A create of typ commits while this first trailing
			// notification is on its way.
			assert.False(t, d.lead(typ), "within the interval: no notice from its transaction")
			d.trail(typ)
		}
		sent <- typ
	})
	require.True(t, d.lead("t"), "the first create notifies itself")
	require.False(t, d.lead("t"))
	d.trail("t")
	for range 2 {
		select {
		case typ := <-sent:
			require.Equal(t, "t", typ)
		case <-time.After(10 * time.Second):
			t.Fatal("the create during the send was never announced")
		}
	}
}
