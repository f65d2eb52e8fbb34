package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/api"
)

func nodesCommand() *command {
	return &command{
		name:    "nodes",
		summary: "Lists the nodes sharing the host's store; JSON with --json.",
		help: `One line per node whose last heartbeat is recent (three leases): its id, API
address, start, last heartbeat, task types it has handlers for and tasks it
runs. On the embedded Badger store that is the one host. Times are in UTC.`,
		setup: func(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
			cf := addClientFlag("nodes", fs, e)
			asJSON := fs.Bool("json", false, "print the nodes as JSON, as GET /v1/nodes gives them")
			return func(ctx context.Context, args []string) error {
				if err := wantArgs("nodes", args, 0, 0, "no arguments"); err != nil {
					return err
				}
				c, err := cf.client()
				if err != nil {
					return err
				}
				nodes, err := c.Nodes(ctx)
				if err != nil {
					return err
				}
				if *asJSON {
					if nodes == nil {
						nodes = []host.Node{}
					}
					return printJSON(e.stdout, api.NodesResponse{Nodes: nodes})
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tADDRESS\tSTARTED\tHEARTBEAT\tHANDLERS\tRUNNING")
				for _, n := range nodes {
					addr, handlers := n.Address, strings.Join(n.Handlers, ",")
					if addr == "" {
						addr = "-"
					}
					if handlers == "" {
						handlers = "-"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", n.ID, addr, tableTime(n.Started), tableTime(n.LastHeartbeat), handlers, n.Running)
				}
				return tw.Flush()
			}
		},
	}
}
