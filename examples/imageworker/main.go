// Command imageworker is an example taskhost plugin: its method "resize"
// scales an image from a source directory to the requested size and
// writes it as a PNG to an output directory. See README.md.
package main

import "github.com/taskhost/taskhost/sdk"

func main() {
	sdk.Serve(newImageWorker().methods())
}

// methods is what the plugin exports. The tests serve the same map with
// sdktest.
func (w *imageWorker) methods() sdk.Methods {
	return sdk.Methods{
		"initialise": sdk.Func(w.initialise),
		"resize":     sdk.Func(w.resize),
		"shutdown":   sdk.Func(w.shutdown),
	}
}
