package badgerstore

import (
	"bytes"
	"sync"
)

// claimFloors keep Claim fast on a busy queue. Every claim deletes the
// dispatch key it took, and an LSM keeps the deletion (a tombstone) until
// compaction, so a scan from the start of a type's dispatch keys steps
// over every task claimed recently: Claim would cost more the more tasks
// went through. Instead Claim seeks from the type's floor, a dispatch key
// at or below every live dispatch key of that type, and raises the floor
// past the keys it took.
//
// The floor must never pass a live key. Keys appear only through commits
// (Create, Update); each such commit reports its keys here right after
// committing, which lowers the floor. A claim raises the floor to the
// first key its snapshot had after the keys it took, which is safe for
// keys its snapshot saw; keys committed outside its snapshot were
// reported after the claim began (report follows commit), so the claim
// registers as a reader when it begins and does not raise past any key
// reported meanwhile. Between a
// commit and its report a claim may overlook that one key for a moment;
// it is never lost.
//
// Floors live in memory; after Open every type starts from its beginning.
type claimFloors struct {
	mu     sync.Mutex
	floors map[string]*claimFloor
}

type claimFloor struct {
	// key is the floor: nil is the start of the type's dispatch keys.
	key []byte
	// readers are the claims in progress on this type.
	readers map[*floorReader]struct{}
	// claimMu serialises the claims of one type within the process: they
	// would all take the same first key, and all but one would fail with a
	// conflict and retry.
	claimMu sync.Mutex
}

// floorReader is one claim attempt: min is the lowest key reported while
// it ran.
type floorReader struct {
	typ string
	min []byte
}

func newClaimFloors() *claimFloors {
	return &claimFloors{floors: make(map[string]*claimFloor)}
}

func (c *claimFloors) floor(typ string) *claimFloor {
	f := c.floors[typ]
	if f == nil {
		f = &claimFloor{readers: make(map[*floorReader]struct{})}
		c.floors[typ] = f
	}
	return f
}

// lock serialises the claims of typ; the returned func unlocks.
func (c *claimFloors) lock(typ string) func() {
	c.mu.Lock()
	f := c.floor(typ)
	c.mu.Unlock()
	f.claimMu.Lock()
	return f.claimMu.Unlock
}

// begin starts a claim attempt on typ, before its transaction starts, and
// returns where its scan may start (nil: the start of the type).
func (c *claimFloors) begin(typ string) (*floorReader, []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.floor(typ)
	r := &floorReader{typ: typ}
	f.readers[r] = struct{}{}
	return r, f.key
}

// end finishes a claim attempt. next is the first dispatch key its
// snapshot had at or after the floor that the attempt did not take (nil if
// none: then the floor moves to the end of the type's keys); raise is
// false when the attempt failed and found out nothing.
func (c *claimFloors) end(r *floorReader, next []byte, raise bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.floor(r.typ)
	delete(f.readers, r)
	if !raise {
		return
	}
	if next == nil {
		next = prefixEnd(dispatchPrefix(r.typ))
	}
	if r.min != nil && bytes.Compare(r.min, next) < 0 {
		next = r.min
	}
	if f.key == nil || bytes.Compare(next, f.key) > 0 {
		f.key = bytes.Clone(next)
	}
}

// report tells the floors of a dispatch key that a commit has just made
// live.
func (c *claimFloors) report(typ string, key []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.floors[typ]
	if f == nil {
		return // no claim has looked at typ yet: every claim starts at the start
	}
	if f.key != nil && bytes.Compare(key, f.key) < 0 {
		f.key = bytes.Clone(key)
	}
	for r := range f.readers {
		if r.min == nil || bytes.Compare(key, r.min) < 0 {
			r.min = bytes.Clone(key)
		}
	}
}

// start returns the floor of typ, for a scan that only reads.
func (c *claimFloors) start(typ string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.floors[typ]; f != nil {
		return f.key
	}
	return nil
}
