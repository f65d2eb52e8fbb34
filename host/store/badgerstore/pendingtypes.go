package badgerstore

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
)

// pendingTypes holds every type that may have pending tasks, for the
// queries that merge the pending ranges of every type (pending tasks are
// in the type+status indexes only: keys.go). It is a superset: Open
// loads the types of the dispatch index, and a transaction that makes a
// task pending adds its type before it commits, so a snapshot never
// holds a pending task of a type not listed. Types are not removed; they
// are as many as the handlers that ever had tasks waiting since Open.
type pendingTypes struct {
	mu    sync.Mutex               // serialises add
	types atomic.Pointer[[]string] // sorted; replaced, never changed
}

func newPendingTypes() *pendingTypes {
	p := &pendingTypes{}
	p.types.Store(new([]string))
	return p
}

// list returns the types, sorted. The caller must not change it.
func (p *pendingTypes) list() []string { return *p.types.Load() }

// add lists typ. It costs a binary search when typ is listed already.
func (p *pendingTypes) add(typ string) {
	if _, ok := slices.BinarySearch(p.list(), typ); ok {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.list()
	i, ok := slices.BinarySearch(old, typ)
	if ok {
		return
	}
	types := slices.Insert(slices.Clone(old), i, typ)
	p.types.Store(&types)
}

// dispatchTypes reads the types of the dispatch index (the types with
// pending tasks), skipping from each type's first key to the next type.
func dispatchTypes(txn *badger.Txn) ([]string, error) {
	space := []byte{prefixDispatch}
	it := txn.NewIterator(badger.IteratorOptions{Prefix: space})
	defer it.Close()
	var types []string
	for it.Seek(space); it.ValidForPrefix(space); {
		typ, _, ok := readString(it.Item().Key()[1:])
		if !ok {
			return nil, fmt.Errorf("dispatch index: key %x: %w", it.Item().Key(), errBadKey)
		}
		types = append(types, typ)
		// Past every key of this type: the prefix starts with a byte
		// below 0xff, so there is an end.
		it.Seek(prefixEnd(appendString([]byte{prefixDispatch}, typ)))
	}
	return types, nil
}
