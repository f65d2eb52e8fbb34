package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/taskhost/taskhost/host/store/pgstore"
)

// Cluster-mode defaults.
const (
	// DefaultSchema is the PostgreSQL schema of a store block without one.
	DefaultSchema = pgstore.DefaultSchema
	// DefaultLease is how long a node that stops renewing keeps the tasks
	// it runs; it renews them every third of it.
	DefaultLease = 30 * time.Second
	// MinLease bounds lease from below: renewals every lease/3 must fit
	// between a database's hiccups.
	MinLease = 3 * time.Second
	// DatabaseURLEnv supplies the store block's postgres URL when the
	// block gives none.
	DatabaseURLEnv = "TASKHOST_DATABASE_URL"
)

// StoreConfig is the store block: tasks live in PostgreSQL, shared by
// every node that names the same database and schema.
type StoreConfig struct {
	// Postgres is the database URL, from the block or TASKHOST_DATABASE_URL.
	Postgres string
	// Schema holds the tables; two clusters may share a database under
	// two schemas. Default "taskhost".
	Schema string
	// DefRange is where the block is, for messages about it.
	DefRange hcl.Range
}

// storeFile is the store block's schema.
type storeFile struct {
	DefRange      hcl.Range `hcl:",def_range"`
	Postgres      *string   `hcl:"postgres,optional"`
	PostgresRange hcl.Range `hcl:"postgres,attr_value_range"`
	Schema        *string   `hcl:"schema,optional"`
	SchemaRange   hcl.Range `hcl:"schema,attr_value_range"`
}

func (sf *storeFile) toStore(bad func(rng hcl.Range, summary, format string, args ...any)) *StoreConfig {
	sc := &StoreConfig{Schema: DefaultSchema, DefRange: sf.DefRange}
	if sf.Schema != nil {
		if err := pgstore.ValidateSchema(*sf.Schema); err != nil || *sf.Schema == "" {
			bad(sf.SchemaRange, "Invalid schema", "%q: want 1 to 63 lower-case letters, digits or _, not starting with a digit", *sf.Schema)
		}
		sc.Schema = *sf.Schema
	}
	if sf.Postgres != nil {
		if err := checkDatabaseURL(*sf.Postgres); err != nil {
			bad(sf.PostgresRange, "Invalid postgres", "%v", err)
		}
		sc.Postgres = *sf.Postgres
	}
	return sc
}

// checkDatabaseURL checks the form of a PostgreSQL URL; whether the
// database answers is found out at start. Its errors never hold the
// password.
func checkDatabaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		// Not echoed: the text may hold a password.
		return errors.New("it does not parse as a URL: want postgres://user[:password]@host[:port]/database")
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" || u.Host == "" {
		return fmt.Errorf("%s: want postgres://user[:password]@host[:port]/database", pgstore.RedactURL(raw))
	}
	return nil
}

// resolveStore fills the store block's URL from TASKHOST_DATABASE_URL
// when the block gives none.
func (c *Config) resolveStore(getenv func(string) string) error {
	if c.Store == nil {
		return nil
	}
	if c.Store.Postgres == "" {
		c.Store.Postgres = getenv(DatabaseURLEnv)
		if c.Store.Postgres == "" {
			return fmt.Errorf("%s:%d: the store block has no postgres URL and %s is not set",
				c.Store.DefRange.Filename, c.Store.DefRange.Start.Line, DatabaseURLEnv)
		}
		if err := checkDatabaseURL(c.Store.Postgres); err != nil {
			return fmt.Errorf("%s: %v", DatabaseURLEnv, err)
		}
	}
	return nil
}

// defaultNodeID names this process in a cluster: the host name and the
// pid, readable and unique per process (a restarted node is a new node;
// the tasks its old self ran return once their leases lapse).
func defaultNodeID() string {
	name, err := os.Hostname()
	if err != nil || name == "" {
		name = "node"
	}
	// A host name may hold characters a node id may not.
	name = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, name)
	name = strings.TrimLeft(name, ".-_")
	if name == "" {
		name = "node"
	}
	if len(name) > 100 {
		name = name[:100]
	}
	return name + "-" + strconv.Itoa(os.Getpid())
}
