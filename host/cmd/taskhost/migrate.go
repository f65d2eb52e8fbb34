package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/taskhost/taskhost/host/store/pgstore"
)

func migrateCommand() *command {
	return &command{
		name:    "migrate",
		args:    "[up|status]",
		summary: "Applies the PostgreSQL store's migrations (up), or lists them (status).",
		help: `For cluster mode: the database and schema come from the config file's store
block (its URL or TASKHOST_DATABASE_URL). "up" (the default) applies the
migrations not yet applied, each in its own transaction under an advisory
lock, so that it is safe while nodes start; taskhost serve does the same at
start. "status" lists every migration and when it was applied.`,
		setup: func(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
			configFile := fs.String("config", "", "the config `file` whose store block names the database")
			return func(ctx context.Context, args []string) error {
				if err := wantArgs("migrate", args, 0, 1, "[up|status]"); err != nil {
					return err
				}
				what := "up"
				if len(args) == 1 {
					what = args[0]
				}
				if what != "up" && what != "status" {
					return usagef("migrate", "%q: want up or status", what)
				}
				if *configFile == "" {
					return usagef("migrate", "--config is required: its store block names the database")
				}
				cfg, err := LoadConfig(*configFile)
				if err != nil {
					return err
				}
				if cfg.Store == nil {
					return fmt.Errorf("%s has no store block: the embedded Badger store has no migrations to run", *configFile)
				}
				if err := cfg.resolveStore(e.getenv); err != nil {
					return err
				}
				if what == "up" {
					applied, err := pgstore.Migrate(ctx, cfg.Store.Postgres, cfg.Store.Schema)
					if err != nil {
						return err
					}
					if len(applied) == 0 {
						fmt.Fprintf(e.stdout, "schema %s is up to date\n", cfg.Store.Schema)
					}
					for _, name := range applied {
						fmt.Fprintf(e.stdout, "applied %s\n", name)
					}
					return nil
				}
				ms, err := pgstore.MigrationStatus(ctx, cfg.Store.Postgres, cfg.Store.Schema)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
				fmt.Fprintln(tw, "VERSION\tNAME\tAPPLIED")
				for _, m := range ms {
					applied := "pending"
					if m.AppliedAt != nil {
						applied = tableTime(*m.AppliedAt)
					}
					fmt.Fprintf(tw, "%03d\t%s\t%s\n", m.Version, m.Name, applied)
				}
				return tw.Flush()
			}
		},
	}
}
