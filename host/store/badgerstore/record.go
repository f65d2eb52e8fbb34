package badgerstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// Record values are binary, not JSON: they are read and written on every
// claim and completion, and json.Marshal of a store.Record would use the
// promoted shared.Task.MarshalJSON and drop the engine's fields.
//
//	version    byte (recordVersion)
//	status     byte (statusCode)
//	id, type, threadId, leaseOwner          string
//	dateCreated, dateModified, leaseUntil   time
//	attempts   varint
//	present    uvarint: one bit per optional field (has* below), which
//	           then follow in bit order
//
// string: uvarint length, bytes. time: varint unix seconds, uvarint
// nanoseconds (every time.Time round-trips, the zero time included; times
// come back in UTC). Raw JSON: uvarint length, bytes. error: name,
// message, one byte permanent. contextIds: uvarint count, then key and
// value strings in key order. progress: 8 bytes float64 bits, message.
const recordVersion byte = 1

const (
	hasDateCompleted = 1 << iota
	hasDateCancelled
	hasDateRetainUntil
	hasDateNextProcess
	hasRetainFor
	hasRetryInterval
	hasRetriesRemaining
	hasPayload
	hasResult
	hasError
	hasContextIDs
	hasProgress
	hasAll = hasProgress<<1 - 1
)

var errBadRecord = errors.New("malformed record")

// appendRecord appends the encoding of r to dst. r.Status must be valid.
func appendRecord(dst []byte, r *store.Record) []byte {
	st, _ := statusCode(r.Status)
	dst = append(dst, recordVersion, st)
	dst = appendVarString(dst, r.ID)
	dst = appendVarString(dst, r.Type)
	dst = appendVarString(dst, r.ThreadID)
	dst = appendVarString(dst, r.LeaseOwner)
	dst = appendTime(dst, r.DateCreated)
	dst = appendTime(dst, r.DateModified)
	dst = appendTime(dst, r.LeaseUntil)
	dst = binary.AppendVarint(dst, int64(r.Attempts))

	var present uint64
	for bit, set := range [...]bool{
		r.DateCompleted != nil, r.DateCancelled != nil, r.DateRetainUntil != nil, r.DateNextProcess != nil,
		r.RetainFor != nil, r.RetryInterval != nil, r.RetriesRemaining != nil,
		r.Payload != nil, r.Result != nil, r.Error != nil, r.ContextIDs != nil, r.Progress != nil,
	} {
		if set {
			present |= 1 << bit
		}
	}
	dst = binary.AppendUvarint(dst, present)
	for _, t := range [...]*time.Time{r.DateCompleted, r.DateCancelled, r.DateRetainUntil, r.DateNextProcess} {
		if t != nil {
			dst = appendTime(dst, *t)
		}
	}
	for _, v := range [...]*int64{r.RetainFor, r.RetryInterval} {
		if v != nil {
			dst = binary.AppendVarint(dst, *v)
		}
	}
	if r.RetriesRemaining != nil {
		dst = binary.AppendVarint(dst, int64(*r.RetriesRemaining))
	}
	if r.Payload != nil {
		dst = appendVarBytes(dst, r.Payload)
	}
	if r.Result != nil {
		dst = appendVarBytes(dst, r.Result)
	}
	if e := r.Error; e != nil {
		dst = appendVarString(dst, e.Name)
		dst = appendVarString(dst, e.Message)
		dst = append(dst, boolByte(e.Permanent))
	}
	if r.ContextIDs != nil {
		dst = binary.AppendUvarint(dst, uint64(len(r.ContextIDs)))
		keys := make([]string, 0, len(r.ContextIDs))
		for k := range r.ContextIDs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			dst = appendVarString(dst, k)
			dst = appendVarString(dst, r.ContextIDs[k])
		}
	}
	if p := r.Progress; p != nil {
		dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(p.Percent))
		dst = appendVarString(dst, p.Message)
	}
	return dst
}

// decodeRecord decodes what appendRecord wrote. Payload and Result alias
// b, so b must not change afterwards.
func decodeRecord(b []byte) (*store.Record, error) {
	d := decoder{b: b}
	if v := d.byte(); v != recordVersion {
		if d.err != nil {
			return nil, d.err
		}
		return nil, fmt.Errorf("%w: unknown version %d", errBadRecord, v)
	}
	r := &store.Record{}
	st, ok := statusFromCode(d.byte())
	if !ok && d.err == nil {
		return nil, fmt.Errorf("%w: bad status", errBadRecord)
	}
	r.Status = st
	r.ID = d.string()
	r.Type = d.string()
	r.ThreadID = d.string()
	r.LeaseOwner = d.string()
	r.DateCreated = d.time()
	r.DateModified = d.time()
	r.LeaseUntil = d.time()
	r.Attempts = d.int()

	present := d.uvarint()
	if present&^hasAll != 0 {
		return nil, fmt.Errorf("%w: unknown fields %#x", errBadRecord, present&^hasAll)
	}
	for i, t := range [...]**time.Time{&r.DateCompleted, &r.DateCancelled, &r.DateRetainUntil, &r.DateNextProcess} {
		if present&(hasDateCompleted<<i) != 0 {
			v := d.time()
			*t = &v
		}
	}
	for i, p := range [...]**int64{&r.RetainFor, &r.RetryInterval} {
		if present&(hasRetainFor<<i) != 0 {
			v := d.varint()
			*p = &v
		}
	}
	if present&hasRetriesRemaining != 0 {
		v := d.int()
		r.RetriesRemaining = &v
	}
	if present&hasPayload != 0 {
		r.Payload = json.RawMessage(d.bytes())
	}
	if present&hasResult != 0 {
		r.Result = json.RawMessage(d.bytes())
	}
	if present&hasError != 0 {
		r.Error = &shared.TaskError{Name: d.string(), Message: d.string(), Permanent: d.byte() != 0}
	}
	if present&hasContextIDs != 0 {
		n := d.uvarint()
		// Each pair takes at least two bytes: refuse counts the rest of
		// the record cannot hold before allocating for them.
		if n > uint64(len(d.b))/2 {
			return nil, fmt.Errorf("%w: bad contextIds count", errBadRecord)
		}
		r.ContextIDs = make(map[string]string, n)
		for range n {
			k := d.string()
			r.ContextIDs[k] = d.string()
		}
	}
	if present&hasProgress != 0 {
		r.Progress = &shared.Progress{Percent: math.Float64frombits(d.uint64()), Message: d.string()}
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errBadRecord, len(d.b))
	}
	return r, nil
}

func appendVarString(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

func appendVarBytes(dst, b []byte) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(b))), b...)
}

func appendTime(dst []byte, t time.Time) []byte {
	return binary.AppendUvarint(binary.AppendVarint(dst, t.Unix()), uint64(t.Nanosecond()))
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// decoder reads a record; after the first error every read returns zero
// and err says what went wrong.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated", errBadRecord)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uint64() uint64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int {
	v := d.varint()
	if v != int64(int(v)) {
		d.fail()
		return 0
	}
	return int(v)
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	return string(d.bytes())
}

func (d *decoder) time() time.Time {
	sec := d.varint()
	nsec := d.uvarint()
	if nsec >= uint64(time.Second) {
		d.fail()
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}
