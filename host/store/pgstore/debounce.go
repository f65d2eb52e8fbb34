package pgstore

import (
	"sync"
	"time"
)

// A create notifies the nodes of its tasks' type (ListenWork), and each
// node that hears it looks for work: one query per node per notification.
// Creates of one type coming fast would make that a query per node per
// create, so the notifications of a type are debounced: the first create
// in a while notifies from its transaction; those that follow within
// the interval don't, and one notification is sent when the interval
// ends, after their commits, so that none goes unheard for longer than
// the interval. (River sends at most one per queue per 100 ms and leaves
// the rest to its polling; the node that creates wakes its own
// dispatcher directly either way.)

// DefaultWorkNotifyInterval is Options.WorkNotifyInterval's default.
const DefaultWorkNotifyInterval = 20 * time.Millisecond

// debouncer decides which creates notify, and sends the trailing
// notifications.
type debouncer struct {
	interval time.Duration
	send     func(typ string) // outside any transaction

	mu    sync.Mutex
	types map[string]*notice
}

// notice is where the notifications of a type stand.
type notice struct {
	last     time.Time // when the last one was sent or queued
	trailing bool      // one is due at last + interval
}

// maxNotices bounds debouncer.types: past it, types whose interval has
// ended are forgotten.
const maxNotices = 1024

func newDebouncer(interval time.Duration, send func(typ string)) *debouncer {
	return &debouncer{interval: interval, send: send, types: make(map[string]*notice)}
}

// lead reports whether a create of typ about to commit notifies from its
// transaction: yes if none was sent within the interval. Otherwise call
// trail once it has committed.
func (d *debouncer) lead(typ string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	n := d.types[typ]
	if n == nil {
		if len(d.types) >= maxNotices {
			for t, old := range d.types {
				if !old.trailing && now.Sub(old.last) >= d.interval {
					delete(d.types, t)
				}
			}
		}
		n = &notice{}
		d.types[typ] = n
	}
	if n.trailing || now.Sub(n.last) < d.interval {
		return false
	}
	n.last = now
	return true
}

// trail makes sure a notification of typ follows, at the end of the
// interval, a create that committed without one.
func (d *debouncer) trail(typ string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.types[typ]
	if n == nil || n.trailing {
		return
	}
	n.trailing = true
	time.AfterFunc(time.Until(n.last.Add(d.interval)), func() {
		// Settled before sending: a create that commits while the
		// notification goes out then queues one of its own (trail), which
		// it could not while this one still looked due.
		d.mu.Lock()
		n.last, n.trailing = time.Now(), false
		d.mu.Unlock()
		d.send(typ)
	})
}
