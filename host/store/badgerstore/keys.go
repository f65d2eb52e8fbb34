package badgerstore

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// Key layout.
//
// Every key starts with one byte naming its key space. Numbers are
// big-endian and fixed width, so byte order is numeric order. A time is its
// unix nanoseconds as an int64 with the sign bit flipped (8 bytes), so byte
// order is time order; times outside 1678..2262 clamp to those ends. A
// string other than the id is prefixed with its length in one byte, so a
// scan of type "a" never meets type "ab"; that caps types and owners at
// [MaxStringLen] bytes. The task id ends every key and needs no length.
//
//	0x00 "schema"                               → format version (one byte)
//	0x01 id                                     → the record (record.go)
//	0x02 len type | due | created | id          pending tasks, for Claim and NextDue
//	0x03 len owner | id                         processing tasks by LeaseOwner → len type | created | modified | completed
//	0x04 retainUntil | id                       terminal tasks with DateRetainUntil, for Sweep
//	0x05 id                                     → a schedule of host/scheduler (schedule.go)
//
// A schedule's id is its schedule id, not a task id; the schedule keys are
// no index of tasks and a schedule changes on its own, in one transaction.
//
// Query indexes, one per sort and status filter: the high nibble is the
// sort (1 dateCreated, 2 dateModified, 3 dateCompleted), the low nibble
// the filter (2 status, 3 type and status):
//
//	0xS2 status | value | id
//	0xS3 len type | status | value | id
//
// status is one byte, the status's place in [shared.Statuses] (life-cycle
// order). A missing dateCompleted is the largest value (all 0xff), so such
// tasks come last in ascending order. Sorting by status needs no index of
// its own: 0x12 (status, created, id) is that order over all tasks, and
// 0x13 within one type; Counts (count.go) counts a type's tasks in a
// status by scanning the keys of 0x13. Index entries have empty values.
//
// Pending tasks are in the 0xS3 indexes only, not in 0xS2: their keys
// there would be written at every create and deleted at every claim, six
// of a task's 25 writes (format 3 had them; leaving them out made the
// bulk benchmarks 13–40% faster, README). A query of pending tasks of
// every type merges the 0xS3 pending ranges of the types that may have
// pending tasks (pendingTypes), which are as few as the handlers.
//
// A query without a status filter, sorted by a date, merges the ranges of
// its index's statuses (Query, store.go): a task is in one status, so the
// ranges hold each task once, and each is in (value, id) order. Its page
// and cursor are in the order of the keys 0xS0 value | id (no filter) and
// 0xS1 len type | value | id (type), which are not stored: an index of
// every task would cost each task's claim and end four more writes, and
// its create and removal six (format 2 stored them).
//
// Processing tasks are in no query index: a claim would write their keys
// and the task's end delete them again, while the processing tasks are
// few (the running tasks of the one host that owns the store) and all in
// the processing index. A query whose range can hold processing keys
// reads the processing records and makes their keys in memory (Query,
// store.go); Counts counts them from the records. Format 1 had them in
// the status indexes and format 2 in the 0xS0 and 0xS1 indexes; Open
// migrates both (migrate.go).
const (
	prefixMeta       byte = 0x00
	prefixRecord     byte = 0x01
	prefixDispatch   byte = 0x02
	prefixProcessing byte = 0x03
	prefixRetention  byte = 0x04
	prefixSchedule   byte = 0x05

	prefixCreated           byte = 0x10
	prefixCreatedType       byte = 0x11
	prefixCreatedStatus     byte = 0x12
	prefixCreatedTypeStatus byte = 0x13

	prefixModified           byte = 0x20
	prefixModifiedType       byte = 0x21
	prefixModifiedStatus     byte = 0x22
	prefixModifiedTypeStatus byte = 0x23

	prefixCompleted           byte = 0x30
	prefixCompletedType       byte = 0x31
	prefixCompletedStatus     byte = 0x32
	prefixCompletedTypeStatus byte = 0x33
)

// The low nibble of a query index prefix: which filter the index serves.
const (
	filterNone       byte = 0
	filterType       byte = 1
	filterStatus     byte = 2
	filterTypeStatus byte = 3
)

// MaxStringLen is the longest task type, task id and lease owner the store
// accepts, in bytes.
const MaxStringLen = math.MaxUint8

const timeLen = 8

// noTime is the key value of a missing dateCompleted: after every real time.
const noTime = math.MaxUint64

// schemaKey holds the format version of the keys and records.
var schemaKey = []byte{prefixMeta, 's', 'c', 'h', 'e', 'm', 'a'}

// schemaVersion is the format version this code writes. Version 1 had
// processing tasks in the status indexes, version 2 indexes of every task
// without a status filter, version 3 pending tasks in the indexes with a
// status filter alone (0xS2); Open migrates them all (migrate.go).
const schemaVersion byte = 4

var (
	minKeyTime = time.Unix(0, math.MinInt64)
	maxKeyTime = time.Unix(0, math.MaxInt64)
)

// timeKey is t as an 8-byte key value: byte order is time order.
func timeKey(t time.Time) uint64 {
	switch {
	case t.Before(minKeyTime):
		t = minKeyTime
	case t.After(maxKeyTime):
		t = maxKeyTime
	}
	return uint64(t.UnixNano()) ^ 1<<63
}

// optTimeKey is timeKey, with nil as noTime (after every real time).
func optTimeKey(t *time.Time) uint64 {
	if t == nil {
		return noTime
	}
	return min(timeKey(*t), noTime-1)
}

// keyTime is the time a timeKey value stands for, in UTC.
func keyTime(v uint64) time.Time {
	return time.Unix(0, int64(v^1<<63)).UTC()
}

// statusCode is the status's place in shared.Statuses.
func statusCode(s shared.Status) (byte, bool) {
	switch s {
	case shared.StatusPending:
		return 0, true
	case shared.StatusProcessing:
		return 1, true
	case shared.StatusSuccess:
		return 2, true
	case shared.StatusFailed:
		return 3, true
	case shared.StatusCancelled:
		return 4, true
	}
	return 0, false
}

func statusFromCode(c byte) (shared.Status, bool) {
	all := shared.Statuses()
	if int(c) >= len(all) {
		return "", false
	}
	return all[c], true
}

// keyParts is any key taken apart. Which fields a key space uses is in the
// layout above; times stay in their key form so that decoding and
// encoding a key gives back the same bytes.
type keyParts struct {
	Space  byte
	Type   string // dispatch, *Type and *TypeStatus indexes
	Owner  string // processing
	Status byte   // *Status and *TypeStatus indexes
	Time   uint64 // due, retainUntil, or the index's sort value
	Time2  uint64 // dispatch: created
	ID     string // every key but meta
}

var errBadKey = errors.New("malformed key")

// spaceHas reports which variable parts a key space has.
func spaceHas(space byte) (typ, owner, status, time1, time2, ok bool) {
	switch space {
	case prefixRecord, prefixSchedule:
		return false, false, false, false, false, true
	case prefixDispatch:
		return true, false, false, true, true, true
	case prefixProcessing:
		return false, true, false, false, false, true
	case prefixRetention:
		return false, false, false, true, false, true
	}
	sort, filter := space&0xf0, space&0x0f
	if (sort != prefixCreated && sort != prefixModified && sort != prefixCompleted) || filter > filterTypeStatus {
		return false, false, false, false, false, false
	}
	return filter&filterType != 0, false, filter&filterStatus != 0, true, false, true
}

// appendKey appends the key p describes to dst. Strings longer than
// MaxStringLen must have been refused before.
func appendKey(dst []byte, p *keyParts) []byte {
	typ, owner, status, t1, t2, _ := spaceHas(p.Space)
	dst = append(dst, p.Space)
	if typ {
		dst = appendString(dst, p.Type)
	}
	if owner {
		dst = appendString(dst, p.Owner)
	}
	if status {
		dst = append(dst, p.Status)
	}
	if t1 {
		dst = binary.BigEndian.AppendUint64(dst, p.Time)
	}
	if t2 {
		dst = binary.BigEndian.AppendUint64(dst, p.Time2)
	}
	return append(dst, p.ID...)
}

// decodeKey takes a record, schedule or index key apart; appendKey of the result
// gives back key.
func decodeKey(key []byte) (keyParts, error) {
	var p keyParts
	if len(key) == 0 {
		return p, errBadKey
	}
	typ, owner, status, t1, t2, ok := spaceHas(key[0])
	if !ok {
		return p, fmt.Errorf("%w: unknown key space %#x", errBadKey, key[0])
	}
	p.Space, key = key[0], key[1:]
	if typ {
		if p.Type, key, ok = readString(key); !ok {
			return p, errBadKey
		}
	}
	if owner {
		if p.Owner, key, ok = readString(key); !ok {
			return p, errBadKey
		}
	}
	if status {
		if len(key) < 1 {
			return p, errBadKey
		}
		p.Status, key = key[0], key[1:]
		if _, ok := statusFromCode(p.Status); !ok {
			return p, fmt.Errorf("%w: bad status code %d", errBadKey, p.Status)
		}
	}
	if t1 {
		if len(key) < timeLen {
			return p, errBadKey
		}
		p.Time, key = binary.BigEndian.Uint64(key), key[timeLen:]
	}
	if t2 {
		if len(key) < timeLen {
			return p, errBadKey
		}
		p.Time2, key = binary.BigEndian.Uint64(key), key[timeLen:]
	}
	if len(key) == 0 {
		return p, fmt.Errorf("%w: no id", errBadKey)
	}
	p.ID = string(key)
	return p, nil
}

func appendString(dst []byte, s string) []byte {
	return append(append(dst, byte(len(s))), s...)
}

func readString(b []byte) (string, []byte, bool) {
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return "", nil, false
	}
	n := int(b[0])
	return string(b[1 : 1+n]), b[1+n:], true
}

func recordKey(id string) []byte {
	return append([]byte{prefixRecord}, id...)
}

// The slots of indexKeys: every index a record can be in.
const (
	slotDispatch = iota
	slotProcessing
	slotRetention
	slotQuery // first of the 6 query indexes: 3 sorts × 2 filters
	numSlots  = slotQuery + 6
)

// indexKeys returns every index key of r, by slot; a slot is nil when r is
// not in that index (a processing task is in no query index). The keys
// share one buffer.
func indexKeys(r *store.Record) [numSlots][]byte {
	var keys [numSlots][]byte
	created := timeKey(r.DateCreated)
	// One allocation for all keys: 9 keys of at most 1+1+255+1+8+8 bytes
	// before the id.
	buf := make([]byte, 0, numSlots*(20+len(r.ID))+4*(len(r.Type))+len(r.LeaseOwner))
	add := func(slot int, p *keyParts) {
		start := len(buf)
		buf = appendKey(buf, p)
		keys[slot] = buf[start:len(buf):len(buf)]
	}
	switch {
	case r.Status == shared.StatusPending:
		add(slotDispatch, &keyParts{Space: prefixDispatch, Type: r.Type, Time: timeKey(r.Due()), Time2: created, ID: r.ID})
	case r.Status == shared.StatusProcessing:
		add(slotProcessing, &keyParts{Space: prefixProcessing, Owner: r.LeaseOwner, ID: r.ID})
		return keys
	case r.Status.Terminal() && r.DateRetainUntil != nil:
		add(slotRetention, &keyParts{Space: prefixRetention, Time: timeKey(*r.DateRetainUntil), ID: r.ID})
	}
	for i, space := range queryIndexes {
		if r.Status == shared.StatusPending && space&filterType == 0 {
			continue // pending tasks are in the type+status indexes only
		}
		p := queryKeyParts(r, space)
		add(slotQuery+i, &p)
	}
	return keys
}

// queryIndexes are the stored query indexes, in indexKeys' slot order.
var queryIndexes = [6]byte{
	prefixCreated | filterStatus, prefixCreated | filterTypeStatus,
	prefixModified | filterStatus, prefixModified | filterTypeStatus,
	prefixCompleted | filterStatus, prefixCompleted | filterTypeStatus,
}

// queryKeyParts are the parts of r's key in the query index space, which
// r need not be in: Query makes the status index keys of processing
// tasks with it.
func queryKeyParts(r *store.Record, space byte) keyParts {
	st, _ := statusCode(r.Status)
	var v uint64
	switch space & 0xf0 {
	case prefixCreated:
		v = timeKey(r.DateCreated)
	case prefixModified:
		v = timeKey(r.DateModified)
	default:
		v = optTimeKey(r.DateCompleted)
	}
	return keyParts{Space: space, Type: r.Type, Status: st, Time: v, ID: r.ID}
}

// statusIndexKeys are the keys r would have in every query index (those
// with a status filter): format 1's keys of a processing task.
func statusIndexKeys(r *store.Record) [][]byte {
	keys := make([][]byte, 0, len(queryIndexes))
	for _, space := range queryIndexes {
		p := queryKeyParts(r, space)
		keys = append(keys, appendKey(nil, &p))
	}
	return keys
}

// processingValue is the value of r's key in the processing index: its
// type and its three sort values, which make its keys in the query
// orders (Query) and count it (Counts) without reading its record.
func processingValue(r *store.Record) []byte {
	b := appendString(make([]byte, 0, 1+len(r.Type)+3*timeLen), r.Type)
	b = binary.BigEndian.AppendUint64(b, timeKey(r.DateCreated))
	b = binary.BigEndian.AppendUint64(b, timeKey(r.DateModified))
	return binary.BigEndian.AppendUint64(b, optTimeKey(r.DateCompleted))
}

// processingTask is a processing index entry: a task's id and what its
// value holds.
type processingTask struct {
	id, typ                      string
	created, modified, completed uint64
}

// decodeProcessing reads a processing index entry.
func decodeProcessing(key, val []byte) (processingTask, error) {
	k, err := decodeKey(key)
	if err != nil {
		return processingTask{}, err
	}
	typ, rest, ok := readString(val)
	if !ok || len(rest) != 3*timeLen {
		return processingTask{}, fmt.Errorf("%w: processing index value %x", errBadKey, val)
	}
	return processingTask{id: k.ID, typ: typ, created: binary.BigEndian.Uint64(rest),
		modified: binary.BigEndian.Uint64(rest[timeLen:]), completed: binary.BigEndian.Uint64(rest[2*timeLen:])}, nil
}

// keyParts are the parts of the task's key in the query index space,
// as queryKeyParts of its record.
func (p *processingTask) keyParts(space byte) keyParts {
	st, _ := statusCode(shared.StatusProcessing)
	v := p.created
	switch space & 0xf0 {
	case prefixModified:
		v = p.modified
	case prefixCompleted:
		v = p.completed
	}
	return keyParts{Space: space, Type: p.typ, Status: st, Time: v, ID: p.id}
}

// dispatchPrefix is the start of the dispatch keys of one type.
func dispatchPrefix(typ string) []byte {
	return appendString([]byte{prefixDispatch}, typ)
}

func processingPrefix(owner string) []byte {
	return appendString([]byte{prefixProcessing}, owner)
}

// sortSpace is the high nibble of the indexes of a sort field.
func sortSpace(f store.SortField) byte {
	switch f {
	case store.SortDateModified:
		return prefixModified
	case store.SortDateCompleted:
		return prefixCompleted
	}
	return prefixCreated
}

// queryPrefix is the prefix of the index keys that answer q, in q's
// order; fixed is how many bytes follow it before the id. q has been
// validated.
func queryPrefix(q *store.Query) (prefix []byte, fixed int) {
	var filter byte
	if q.Type != "" {
		filter |= filterType
	}
	if q.Status != "" {
		filter |= filterStatus
	}
	space := sortSpace(q.SortBy)
	fixed = timeLen
	if q.SortBy == store.SortStatus {
		// (status, created, id) within the filter.
		space = prefixCreated
		if filter&filterStatus == 0 {
			filter |= filterStatus
			fixed++
		}
	}
	prefix = []byte{space | filter}
	if filter&filterType != 0 {
		prefix = appendString(prefix, q.Type)
	}
	if q.Status != "" {
		st, _ := statusCode(q.Status)
		prefix = append(prefix, st)
	}
	return prefix, fixed
}

// unindexedPrefix is the prefix of the keys processing tasks would have
// in the order that answers q (prefix is queryPrefix's), which are not
// stored: they are in no query index. It is nil when q filters another
// status.
func unindexedPrefix(q *store.Query, prefix []byte) []byte {
	proc, _ := statusCode(shared.StatusProcessing)
	switch {
	case prefix[0]&filterStatus == 0: // merged statuses: anywhere
		return prefix
	case q.Status == shared.StatusProcessing:
		return prefix
	case q.Status == "": // sorted by status
		return append(bytes.Clone(prefix), proc)
	}
	return nil
}

// queryRange is stored index keys that answer part of a query: the keys
// with prefix stored, which stand for the query's order keys with prefix
// order in its place.
type queryRange struct {
	stored, order []byte
}

// queryRanges are the ranges of stored keys that answer q, whose order
// has prefix (queryPrefix's): that prefix, or for a query without a
// status filter sorted by a date, that of each status but processing in
// the index with a status filter. Pending tasks are in the type+status
// indexes only: without a type filter, their part is the pending range of
// each type in types there.
func queryRanges(q *store.Query, prefix []byte, types []string) []queryRange {
	pending, _ := statusCode(shared.StatusPending)
	// pendingOf is the pending range of each type, standing for order.
	pendingOf := func(space byte, order []byte) []queryRange {
		rs := make([]queryRange, 0, len(types))
		for _, typ := range types {
			rs = append(rs, queryRange{append(appendString([]byte{space | filterTypeStatus}, typ), pending), order})
		}
		return rs
	}
	space := prefix[0] & 0xf0
	switch {
	case q.Type != "":
		if prefix[0]&filterStatus != 0 {
			return []queryRange{{prefix, prefix}}
		}
	case q.Status == shared.StatusPending:
		return pendingOf(space, prefix)
	case q.Status != "":
		return []queryRange{{prefix, prefix}}
	case q.SortBy == store.SortStatus:
		// (status, created, id): the other statuses in 0x12, pending
		// tasks in 0x13, as if in 0x12.
		return append([]queryRange{{prefix, prefix}}, pendingOf(space, append(bytes.Clone(prefix), pending))...)
	}
	statuses := shared.Statuses()
	ranges := make([]queryRange, 0, len(statuses)-2+len(types))
	for _, st := range statuses {
		code, _ := statusCode(st)
		switch {
		case st == shared.StatusProcessing:
			continue
		case st == shared.StatusPending && q.Type == "":
			ranges = append(ranges, pendingOf(space, prefix)...)
			continue
		}
		r := append([]byte{prefix[0] | filterStatus}, prefix[1:]...)
		ranges = append(ranges, queryRange{append(r, code), prefix})
	}
	return ranges
}

// prefixEnd is the smallest key greater than every key with prefix p, or
// nil if there is none.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// encodeCursor makes the opaque cursor of the last index key a page
// returned.
func encodeCursor(key []byte) string {
	return base64.RawURLEncoding.EncodeToString(key)
}

// decodeCursor returns the index key in cursor, checking that it belongs
// to the index that answers the query: prefix, then fixed bytes, then an
// id.
func decodeCursor(cursor string, prefix []byte, fixed int) ([]byte, error) {
	key, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed cursor", shared.ErrInvalidArgument)
	}
	if !bytes.HasPrefix(key, prefix) || len(key) <= len(prefix)+fixed {
		return nil, fmt.Errorf("%w: cursor is not from this query", shared.ErrInvalidArgument)
	}
	return key, nil
}
