package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/api"
	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/shared"
)

func listCommand() *command {
	return &command{
		name:    "list",
		summary: "Lists tasks as a table, or as JSON with --json.",
		help: `Prints one page of tasks. When there are more, a line on stderr says which
--cursor gives the next page.`,
		setup: func(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
			cf := addClientFlag("list", fs, e)
			typ := fs.String("type", "", "only tasks of this `type`")
			status := fs.String("status", "", "only tasks in this `status`: "+joinStrings(shared.Statuses(), ", "))
			sortBy := fs.String("sort", "", "the `field` to sort by: "+joinStrings(api.SortFields(), ", ")+" (default dateCreated)")
			desc := fs.Bool("desc", false, "sort in descending order")
			limit := fs.Int("limit", store.DefaultLimit, "at most `N` tasks, 1 to "+strconv.Itoa(store.MaxLimit))
			cursor := fs.String("cursor", "", "the `cursor` of the page to print, from an earlier list")
			asJSON := fs.Bool("json", false, "print the tasks as a JSON array")
			return func(ctx context.Context, args []string) error {
				if err := wantArgs("list", args, 0, 0, "flags only"); err != nil {
					return err
				}
				q := host.Query{Type: *typ, Status: shared.Status(*status), SortBy: store.SortField(*sortBy), Desc: *desc, Cursor: *cursor, Limit: *limit}
				if q.Status != "" && !q.Status.Valid() {
					return usagef("list", "--status %q: want one of %s", *status, joinStrings(shared.Statuses(), ", "))
				}
				if q.SortBy != "" && !q.SortBy.Valid() {
					return usagef("list", "--sort %q: want one of %s", *sortBy, joinStrings(api.SortFields(), ", "))
				}
				if q.Limit < 1 || q.Limit > store.MaxLimit {
					return usagef("list", "--limit %d: want 1 to %d", q.Limit, store.MaxLimit)
				}
				c, err := cf.client()
				if err != nil {
					return err
				}
				page, err := c.List(ctx, q)
				if err != nil {
					return err
				}
				if *asJSON {
					if page.Tasks == nil {
						page.Tasks = []shared.Task{}
					}
					err = printJSON(e.stdout, page.Tasks)
				} else {
					err = printTasks(e, page.Tasks)
				}
				if err == nil && page.Cursor != "" {
					fmt.Fprintf(e.stderr, "taskhost: more tasks: add --cursor %s for the next page\n", page.Cursor)
				}
				return err
			}
		},
	}
}

// printTasks prints tasks as an aligned table.
func printTasks(e *env, tasks []shared.Task) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTYPE\tSTATUS\tCREATED\tMODIFIED\tRETRIES\tERROR")
	for _, t := range tasks {
		retries, errName := "-", "-"
		if t.RetriesRemaining != nil {
			retries = strconv.Itoa(*t.RetriesRemaining)
		}
		if t.Error != nil {
			errName = t.Error.Name
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Type, t.Status,
			tableTime(t.DateCreated), tableTime(t.DateModified), retries, errName)
	}
	return tw.Flush()
}

func tableTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func joinStrings[S ~string](vs []S, sep string) string {
	ss := make([]string, len(vs))
	for i, v := range vs {
		ss[i] = string(v)
	}
	return strings.Join(ss, sep)
}
