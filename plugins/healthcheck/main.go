// Command healthcheck is twin's health-check handler as a plugin: its
// method "execute" returns its payload, proving the host can run work.
package main

import (
	"context"
	"encoding/json"

	"github.com/taskhost/taskhost/sdk"
)

func main() {
	sdk.Serve(sdk.Methods{
		"execute": sdk.Func(func(_ context.Context, _ sdk.Task, p json.RawMessage) (json.RawMessage, error) {
			return p, nil
		}),
	})
}
