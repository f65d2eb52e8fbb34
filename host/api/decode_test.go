package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/api"
)

func TestDuplicateKeysAreRefused(t *testing.T) {
	t.Parallel()
	f := setup(t, &fakeEngine{
		create: func(context.Context, string, json.RawMessage, host.CreateOptions) (string, error) {
			return "0123456789abcdef0123456789abcdef", nil
		},
		createMany: func(_ context.Context, tasks []host.NewTask) ([]string, error) {
			return make([]string, len(tasks)), nil
		},
	}, api.ServerOptions{})
	for body, field := range map[string]string{
		`{"type":"x","type":"y"}`: "type",
		`{"type":"x","payload":{"a":1,"b":{"c":[1,{"d":2,"d":3}]},"a":2}}`: "payload.b.c[1].d",
		`{"type":"x","payload":{"a":1,"b":2,"a":3}}`:                       "payload.a",
		`{"type":"x","payload":{"a\"b":1,"a\u0022b":2}}`:                   `payload.a"b`,
		`{"type":"x","payload":{"ab":1,"\u0061b":2}}`:                      "payload.ab",
		`{"type":"x","payload":{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k17":17,"k3":3}}`: "payload.k3",
		`{"type":"x","contextIds":{"k":"1","k":"2"}}`:                                "contextIds.k",
		`{"type":"x","payload":[{"a":1},{"a":1,"a":2}]}`:                             "payload[1].a",
		`{"type":"x","payload":{"a":{"z":1},"b":{"z":1},"c":[{"z":1}],"z":1,"z":2}}`: "payload.z",
	} {
		r := f.do(t, http.MethodPost, "/v1/tasks", body)
		requireError(t, r, http.StatusBadRequest, api.ErrorNameInvalidArgument, "field "+field+" appears twice")
	}
	r := f.do(t, http.MethodPost, "/v1/tasks/batch", `{"tasks":[{"type":"x"},{"type":"x","retryCount":1,"retryCount":2}]}`)
	requireError(t, r, http.StatusBadRequest, api.ErrorNameInvalidArgument, "field tasks[1].retryCount appears twice")
	r = f.do(t, http.MethodPost, "/v1/tasks/batch", `{"tasks":[{"type":"x"}],"tasks":[]}`)
	requireError(t, r, http.StatusBadRequest, api.ErrorNameInvalidArgument, "field tasks appears twice")

	// The same key in different objects, and keys that only look alike.
	for _, body := range []string{
		`{"type":"x","payload":{"type":"y","a":{"type":"z"},"b":[{"a":1},{"a":1}]}}`,
		`{"type":"x","payload":{"a":1,"A":2,"a ":3,"[a]":[],"{}":{}}}`,
		`{"type":"x","payload":[[],[{}],{"":1},{"":2}]}`,
		`{"type":"x","payload":{"a\\":1,"a":2,"\\a":3,"[\"a\"]":4,"a\"":5}}`,
		`{"type":"x","payload":{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k17":17}}`,
	} {
		r := f.do(t, http.MethodPost, "/v1/tasks", body)
		require.Equal(t, http.StatusCreated, r.status, "%s: %s", body, r.body)
	}
	r = f.do(t, http.MethodPost, "/v1/tasks/batch", `{"tasks":[{"type":"x","payload":{"a":1}},{"type":"x","payload":{"a":1}}]}`)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	require.False(t, strings.Contains(r.body, "error"), r.body)
}
