package badgerstore

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

// Encode → decode round trips over generated fields. FuzzDecodeKey and
// FuzzDecodeRecord (badgerstore_test.go) go the other way, from bytes.

// FuzzKeyRoundTrip: every key appendKey can make decodes to the parts it
// was made of; byte order is time order; and a type's scan prefix
// matches the keys of that type and of no other.
func FuzzKeyRoundTrip(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(prefixDispatch, s, "ab", byte(0), uint64(1), uint64(math.MaxUint64), "0190a1b2c3d4e5f60718293a4b5c6d7e")
		f.Add(prefixProcessing, "t", s, byte(0), uint64(0), uint64(0), "\x00")
		f.Add(prefixCompletedTypeStatus, s, s+"\x00", byte(4), uint64(noTime), uint64(0), "\xff")
	}
	f.Add(prefixRecord, "", "", byte(0), uint64(0), uint64(0), "x")
	f.Add(prefixSchedule, "", "", byte(0), uint64(0), uint64(0), "daily-sync")
	f.Add(prefixRetention, "", "", byte(0), uint64(math.MaxUint64-1), uint64(0), "id")
	f.Add(prefixCreatedStatus, "", "", byte(200), uint64(0), uint64(0), "id")
	f.Add(byte(0x14), "t", "", byte(0), uint64(0), uint64(0), "id") // no such space
	f.Add(prefixMeta, "", "", byte(0), uint64(0), uint64(0), "schema")
	f.Fuzz(func(t *testing.T, space byte, typ, other string, status byte, t1, t2 uint64, id string) {
		hasType, hasOwner, hasStatus, hasT1, hasT2, ok := spaceHas(space)
		if !ok {
			_, err := decodeKey(append([]byte{space}, id...))
			require.ErrorIs(t, err, errBadKey, "space %#x is no key space", space)
			return
		}
		if id == "" {
			id = "x" // every key ends with an id
		}
		p := keyParts{Space: space, ID: id}
		if hasType {
			p.Type = typ[:min(len(typ), MaxStringLen)]
		}
		if hasOwner {
			p.Owner = typ[:min(len(typ), MaxStringLen)]
		}
		if hasStatus {
			p.Status = status % byte(len(shared.Statuses()))
		}
		if hasT1 {
			p.Time = t1
		}
		if hasT2 {
			p.Time2 = t2
		}
		key := appendKey(nil, &p)
		got, err := decodeKey(key)
		require.NoError(t, err, "%x", key)
		require.Equal(t, p, got)

		if hasT1 && t1 < math.MaxUint64 {
			later := p
			later.Time++
			require.Negative(t, bytes.Compare(key, appendKey(nil, &later)), "a later time sorts after")
		}
		if hasType || hasOwner {
			name := p.Type + p.Owner // one of them is empty
			require.True(t, bytes.HasPrefix(key, appendString([]byte{space}, name)))
			if other = other[:min(len(other), MaxStringLen)]; other != name {
				require.False(t, bytes.HasPrefix(key, appendString([]byte{space}, other)),
					"a scan of %q meets a key of %q", other, name)
			}
		}
	})
}

// FuzzTimeKeyOrder: timeKey keeps time order (clamping outside
// 1678..2262) and keyTime gives back every time within that range.
func FuzzTimeKeyOrder(f *testing.F) {
	f.Add(int64(0), int64(0), int64(0), int64(1))
	f.Add(int64(-1), int64(999_999_999), int64(0), int64(0))
	f.Add(minKeyTime.Unix(), int64(minKeyTime.Nanosecond()), maxKeyTime.Unix(), int64(maxKeyTime.Nanosecond()))
	f.Add(int64(math.MinInt64), int64(0), int64(math.MaxInt64), int64(math.MaxInt64))
	f.Add(int64(-62135596800), int64(0), int64(1_900_000_000), int64(5)) // the zero time
	f.Fuzz(func(t *testing.T, sa, na, sb, nb int64) {
		a, b := time.Unix(sa, na), time.Unix(sb, nb)
		inRange := func(x time.Time) bool { return !x.Before(minKeyTime) && !x.After(maxKeyTime) }
		switch {
		case a.Before(b) && inRange(a) && inRange(b):
			require.Less(t, timeKey(a), timeKey(b), "%v < %v", a, b)
		case a.Before(b):
			require.LessOrEqual(t, timeKey(a), timeKey(b), "%v < %v", a, b)
		case a.Equal(b):
			require.Equal(t, timeKey(a), timeKey(b))
		}
		if inRange(a) {
			require.True(t, a.Equal(keyTime(timeKey(a))), "%v comes back as %v", a, keyTime(timeKey(a)))
		}
		require.Less(t, optTimeKey(&a), optTimeKey(nil), "a missing time sorts last")
	})
}

// FuzzRecordRoundTrip: every record appendRecord is given decodes to an
// equal record, and its encoding again to the same bytes. Strings are
// arbitrary bytes; times are any (seconds, nanoseconds); present picks the
// optional fields; nums feeds the numbers, 8 bytes each.
func FuzzRecordRoundTrip(f *testing.F) {
	full := fullRecord()
	var nums []byte
	for _, v := range []int64{
		full.DateCreated.Unix(), int64(full.DateCreated.Nanosecond()), full.DateModified.Unix(), 1,
		full.LeaseUntil.Unix(), 999_999_999, 4, // attempts
		full.DateCompleted.Unix(), 0, full.DateCancelled.Unix(), 0, full.DateRetainUntil.Unix(), 0, full.DateNextProcess.Unix(), 0,
		60_000, 5_000, 2, // retainFor, retryInterval, retriesRemaining
	} {
		nums = binary.BigEndian.AppendUint64(nums, uint64(v))
	}
	f.Add(uint16(hasAll), nums, full.ID, full.Type, full.ThreadID, full.LeaseOwner, []byte(full.Payload), []byte(full.Result),
		"Error", "m", "a\x001\x00b\x002", 99.5, "almost")
	f.Add(uint16(0), []byte{}, "m", "t", "", "", []byte(nil), []byte(nil), "", "", "", 0.0, "")
	f.Add(uint16(hasPayload|hasResult|hasContextIDs), []byte{0x80}, "\x00", "\xff\xfe", "日本", "", []byte{}, []byte{0}, "", "", "", math.Inf(-1), "")
	f.Add(uint16(hasProgress|hasError|hasDateCompleted), bytes.Repeat([]byte{0xff}, 40), strings.Repeat("i", 300), "t", "main", "o",
		[]byte(nil), []byte(nil), "", "\n", "\x00\x00\x00", math.NaN(), "\xff")
	f.Fuzz(func(t *testing.T, present uint16, nums []byte, id, typ, thread, owner string, payload, result []byte,
		errName, errMsg, contextIDs string, percent float64, progress string,
	) {
		next := func() int64 {
			if len(nums) < 8 {
				nums = nil
				return 0
			}
			v := int64(binary.BigEndian.Uint64(nums))
			nums = nums[8:]
			return v
		}
		at := func() time.Time {
			sec, nsec := next(), next()
			return time.Unix(sec, int64(uint64(nsec)%uint64(time.Second))).UTC()
		}
		opt := func(bit int) bool { return present&uint16(bit) != 0 }
		r := &store.Record{Task: shared.Task{
			ID: id, Type: typ, ThreadID: thread,
			Status:      shared.Statuses()[int(present>>12)%len(shared.Statuses())],
			DateCreated: at(), DateModified: at(),
		}, LeaseOwner: owner}
		r.LeaseUntil = at()
		r.Attempts = int(next())
		for i, p := range []**time.Time{&r.DateCompleted, &r.DateCancelled, &r.DateRetainUntil, &r.DateNextProcess} {
			if v := at(); opt(hasDateCompleted << i) {
				*p = &v
			}
		}
		for i, p := range []**int64{&r.RetainFor, &r.RetryInterval} {
			if v := next(); opt(hasRetainFor << i) {
				*p = &v
			}
		}
		if v := int(next()); opt(hasRetriesRemaining) {
			r.RetriesRemaining = &v
		}
		if opt(hasPayload) {
			r.Payload = append([]byte{}, payload...)
		}
		if opt(hasResult) {
			r.Result = append([]byte{}, result...)
		}
		if opt(hasError) {
			r.Error = &shared.TaskError{Name: errName, Message: errMsg, Permanent: len(errMsg)%2 == 1}
		}
		if opt(hasContextIDs) {
			r.ContextIDs = map[string]string{}
			kv := strings.Split(contextIDs, "\x00")
			for i := 0; i+1 < len(kv); i += 2 {
				r.ContextIDs[kv[i]] = kv[i+1]
			}
		}
		if opt(hasProgress) {
			r.Progress = &shared.Progress{Percent: percent, Message: progress}
		}

		b := appendRecord(nil, r)
		got, err := decodeRecord(b)
		require.NoError(t, err, "%x", b)
		requireSameRecord(t, r, got)
		require.Equal(t, b, appendRecord(nil, got), "encoding is deterministic")
	})
}

// requireSameRecord is require.Equal, with a progress percent compared by
// its bits (NaN is not equal to itself).
func requireSameRecord(t *testing.T, want, got *store.Record) {
	t.Helper()
	if want.Progress != nil && got.Progress != nil {
		require.Equal(t, math.Float64bits(want.Progress.Percent), math.Float64bits(got.Progress.Percent))
		w, g := *want, *got
		wp, gp := *want.Progress, *got.Progress
		wp.Percent, gp.Percent = 0, 0
		w.Progress, g.Progress = &wp, &gp
		want, got = &w, &g
	}
	require.Equal(t, want, got)
}
