package sdk_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/taskhost/taskhost/sdk"
	"github.com/taskhost/taskhost/sdk/sdktest"
)

type greeting struct {
	Name string `json:"name"`
}

func greet(ctx context.Context, t sdk.Task, p greeting) (string, error) {
	sdk.Progress(ctx, 100, "greeted")
	return fmt.Sprintf("hello, %s (attempt %d)", p.Name, t.Attempt), nil
}

// A plugin's main is one call to Serve. Here the same methods are run
// in-process with sdktest, the way a plugin's unit tests run them.
func Example() {
	methods := sdk.Methods{"greet": sdk.Func(greet)}
	// In a plugin: func main() { sdk.Serve(methods) }

	var t testing.T // in a test, use the test's own *testing.T
	p := sdktest.Start(&t, methods)
	out, err := sdktest.Call[string](context.Background(), p, "greet", greeting{Name: "twin"})
	fmt.Println(out, err)
	// Output: hello, twin (attempt 1) <nil>
}

type order struct {
	Item     string `json:"item"`
	Quantity int    `json:"quantity"`
}

func placeOrder(_ context.Context, _ sdk.Task, o order) (string, error) {
	return fmt.Sprintf("%d × %s", o.Quantity, o.Item), nil
}

// A method that must not silently drop a field it does not know, such as
// a misspelt one, asks for strict decoding.
func ExampleStrictPayload() {
	var t testing.T
	p := sdktest.Start(&t, sdk.Methods{"order": sdk.Func(placeOrder, sdk.StrictPayload())})
	_, err := sdktest.Call[string](context.Background(), p, "order", json.RawMessage(`{"item":"tea","quantiy":2}`))
	fmt.Println(err)
	// Output: InvalidPayload: method "order": payload field "quantiy" is unknown to sdk_test.order, and this method refuses unknown fields
}
