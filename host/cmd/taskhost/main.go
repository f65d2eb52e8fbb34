// Command taskhost is the task host's daemon (taskhost serve) and its
// command-line client (taskhost create, get, list, ...). Run
// "taskhost help" for the commands.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], &env{
		stdin:  os.Stdin,
		stdout: os.Stdout,
		stderr: os.Stderr,
		getenv: os.Getenv,
	}))
}
