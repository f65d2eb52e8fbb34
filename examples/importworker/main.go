// Command importworker is an example taskhost plugin: its method "import"
// loads a catalogue CSV file into an embedded SQLite database that several
// worker processes share. See README.md.
package main

import "github.com/taskhost/taskhost/sdk"

func main() {
	sdk.Serve(newImportWorker().methods())
}

// methods is what the plugin exports. The tests serve the same map with
// sdktest.
func (w *importWorker) methods() sdk.Methods {
	return sdk.Methods{
		"initialise": sdk.Func(w.initialise),
		"import":     sdk.Func(w.importSource),
		"shutdown":   sdk.Func(w.shutdown),
	}
}
