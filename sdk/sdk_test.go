package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/sdk"
	"github.com/taskhost/taskhost/sdk/sdktest"
	"github.com/taskhost/taskhost/shared"
)

type resizePayload struct {
	ImageID string `json:"imageId"`
	Width   int    `json:"width"`
	Height  int    `json:"height"`
}

type resizeResult struct {
	ImageID  string `json:"imageId"`
	Location string `json:"location"`
}

type namedError struct{ msg string }

func (e namedError) Error() string { return e.msg }
func (e namedError) Name() string  { return "QuotaExceeded" }

func setup(t *testing.T) *sdktest.Plugin {
	t.Helper()
	return sdktest.Start(t, sdk.Methods{
		"resize": sdk.Func(func(_ context.Context, task sdk.Task, p resizePayload) (resizeResult, error) {
			return resizeResult{ImageID: p.ImageID, Location: task.ID + "/" + p.ImageID}, nil
		}),
		"fail": sdk.Func(func(_ context.Context, _ sdk.Task, p struct{ Permanent, Named bool }) (struct{}, error) {
			var err error = errors.New("disk full")
			if p.Named {
				err = namedError{"quota of 10 reached"}
			}
			if p.Permanent {
				err = sdk.Permanent(err)
			}
			return struct{}{}, err
		}),
		"panic": sdk.Func(func(context.Context, sdk.Task, struct{}) (struct{}, error) {
			var m map[string]int
			m["boom"]++ // assignment to entry in nil map
			return struct{}{}, nil
		}),
		"wait": sdk.Func(func(ctx context.Context, _ sdk.Task, _ struct{}) (struct{}, error) {
			<-ctx.Done()
			return struct{}{}, ctx.Err()
		}),
		"progress": sdk.Func(func(ctx context.Context, _ sdk.Task, _ struct{}) (int, error) {
			for i := 0; i <= 100; i += 50 {
				sdk.Progress(ctx, float64(i), "at "+strings.Repeat("|", i/50))
			}
			sdk.Logger(ctx).Info("done")
			return 3, nil
		}),
		"task": sdk.Func(func(_ context.Context, task sdk.Task, _ struct{}) (sdk.Task, error) {
			return task, nil
		}),
	})
}

func requireTaskError(t *testing.T, err error, name string) *shared.TaskError {
	t.Helper()
	var te *shared.TaskError
	require.ErrorAs(t, err, &te)
	require.Equal(t, name, te.Name, te.Message)
	return te
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	p := setup(t)
	got, err := sdktest.Call[resizeResult](context.Background(), p, "resize", resizePayload{ImageID: "hero", Width: 10, Height: 5})
	require.NoError(t, err)
	require.Equal(t, resizeResult{ImageID: "hero", Location: "sdktest/hero"}, got)
}

func TestMethodsAreListedSorted(t *testing.T) {
	t.Parallel()
	names, err := setup(t).Methods(context.Background())
	require.NoError(t, err)
	require.Equal(t, []string{"fail", "panic", "progress", "resize", "task", "wait"}, names)
}

func TestTaskMetadataReachesMethod(t *testing.T) {
	t.Parallel()
	retries := 1
	in := sdk.Task{ID: "id1", Type: "image-resize", ThreadID: "n2", Attempt: 2, RetriesRemaining: &retries, ContextIDs: map[string]string{"tenant": "a"}}
	raw, err := setup(t).Call(context.Background(), "task", in, nil, nil)
	require.NoError(t, err)
	var out sdk.Task
	require.NoError(t, json.Unmarshal(raw, &out))
	require.Equal(t, in, out)
}

func TestPayloadThatDoesNotFitNamesMethodAndField(t *testing.T) {
	t.Parallel()
	p := setup(t)
	_, err := sdktest.Call[resizeResult](context.Background(), p, "resize", json.RawMessage(`{"imageId":"hero","width":"wide"}`))
	te := requireTaskError(t, err, shared.ErrorNameInvalidPayload)
	require.Contains(t, te.Message, `method "resize"`)
	require.Contains(t, te.Message, `field "width"`)
	require.Contains(t, te.Message, "want int")
	require.True(t, te.Permanent)

	_, err = sdktest.Call[resizeResult](context.Background(), p, "resize", json.RawMessage(`[1,2]`))
	te = requireTaskError(t, err, shared.ErrorNameInvalidPayload)
	require.Contains(t, te.Message, "resizePayload")
}

func TestErrorsKeepNameAndPermanence(t *testing.T) {
	t.Parallel()
	p := setup(t)
	for _, tc := range []struct {
		payload   string
		name      string
		permanent bool
	}{
		{`{}`, shared.ErrorNameDefault, false},
		{`{"Permanent":true}`, shared.ErrorNameDefault, true},
		{`{"Named":true}`, "QuotaExceeded", false},
		{`{"Named":true,"Permanent":true}`, "QuotaExceeded", true},
	} {
		_, err := sdktest.Call[struct{}](context.Background(), p, "fail", json.RawMessage(tc.payload))
		te := requireTaskError(t, err, tc.name)
		require.Equal(t, tc.permanent, te.Permanent, tc.payload)
	}
}

func TestPanicBecomesErrorWithStack(t *testing.T) {
	t.Parallel()
	p := setup(t)
	_, err := sdktest.Call[struct{}](context.Background(), p, "panic", nil)
	te := requireTaskError(t, err, shared.ErrorNamePanic)
	require.Contains(t, te.Message, `method "panic" panicked: assignment to entry in nil map`)
	require.Contains(t, te.Message, "sdk_test.setup")
	// The worker goes on serving.
	_, err = sdktest.Call[resizeResult](context.Background(), p, "resize", resizePayload{ImageID: "x"})
	require.NoError(t, err)
}

func TestUnknownMethodIsPermanent(t *testing.T) {
	t.Parallel()
	_, err := sdktest.Call[struct{}](context.Background(), setup(t), "nope", nil)
	te := requireTaskError(t, err, shared.ErrorNameMethodNotFound)
	require.True(t, te.Permanent)
}

func TestCancellationReachesMethod(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := sdktest.Call[struct{}](ctx, setup(t), "wait", nil)
	require.Error(t, err)
}

func TestProgressIsReported(t *testing.T) {
	t.Parallel()
	p := setup(t)
	var mu sync.Mutex
	var got []shared.Progress
	_, err := p.Call(context.Background(), "progress", sdk.Task{ID: "x"}, nil, func(pr shared.Progress) {
		mu.Lock()
		got = append(got, pr)
		mu.Unlock()
	})
	require.NoError(t, err)
	want := []shared.Progress{{Percent: 0, Message: "at "}, {Percent: 50, Message: "at |"}, {Percent: 100, Message: "at ||"}}
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, want, got)
}

func TestPermanentNilIsNil(t *testing.T) {
	t.Parallel()
	require.NoError(t, sdk.Permanent(nil))
	require.True(t, sdk.IsPermanent(sdk.Permanent(errors.New("x"))))
	require.False(t, sdk.IsPermanent(errors.New("x")))
}

func TestStrictPayloadRefusesUnknownFields(t *testing.T) {
	t.Parallel()
	resize := func(_ context.Context, _ sdk.Task, p resizePayload) (resizeResult, error) {
		return resizeResult{ImageID: p.ImageID}, nil
	}
	p := sdktest.Start(t, sdk.Methods{
		"strict":  sdk.Func(resize, sdk.StrictPayload()),
		"lenient": sdk.Func(resize),
	})
	ctx := context.Background()
	withColour := json.RawMessage(`{"imageId":"hero","width":10,"colour":"red"}`)

	_, err := sdktest.Call[resizeResult](ctx, p, "strict", withColour)
	te := requireTaskError(t, err, shared.ErrorNameInvalidPayload)
	require.True(t, te.Permanent)
	require.Contains(t, te.Message, `method "strict"`)
	require.Contains(t, te.Message, `payload field "colour" is unknown to sdk_test.resizePayload`)

	got, err := sdktest.Call[resizeResult](ctx, p, "lenient", withColour)
	require.NoError(t, err, "the default ignores unknown fields")
	require.Equal(t, "hero", got.ImageID)

	// Known fields, a null payload and bad JSON behave as without the option.
	got, err = sdktest.Call[resizeResult](ctx, p, "strict", resizePayload{ImageID: "hero"})
	require.NoError(t, err)
	require.Equal(t, "hero", got.ImageID)
	_, err = sdktest.Call[resizeResult](ctx, p, "strict", nil)
	require.NoError(t, err)
	for _, bad := range []string{`{"imageId":"hero"} {}`, `{"imageId":`} {
		_, strictErr := sdktest.Call[resizeResult](ctx, p, "strict", json.RawMessage(bad))
		_, lenientErr := sdktest.Call[resizeResult](ctx, p, "lenient", json.RawMessage(bad))
		strictTE := requireTaskError(t, strictErr, shared.ErrorNameInvalidPayload)
		lenientTE := requireTaskError(t, lenientErr, shared.ErrorNameInvalidPayload)
		require.Equal(t, strings.Replace(lenientTE.Message, "lenient", "strict", 1), strictTE.Message, bad)
	}
}
