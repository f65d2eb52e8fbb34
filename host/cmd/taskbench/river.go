package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The River peer: riverpeer (host/cmd/taskbench/riverpeer, a Go module of
// its own so that taskhost's module never depends on River) runs the
// bulk, paced and create-call scenarios on River against the same
// PostgreSQL in the same run, and prints its figures as JSON. taskbench
// builds and runs it, and files its figures under riverPrefix. pgstore's
// figures are compared with these.

// riverPrefix goes before the peer's figure keys.
const riverPrefix = "river."

// riverPeerDir is the peer module's directory, inside the taskhost
// checkout this runs in.
const riverPeerDir = "host/cmd/taskbench/riverpeer"

// defaultDatabaseURL is the local test server, used when neither
// -database-url nor TASKHOST_TEST_DATABASE_URL names one.
const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// peerOutput is the document riverpeer writes on stdout.
type peerOutput struct {
	River  string `json:"river"`
	Config struct {
		Workers             int     `json:"workers"`
		FetchCooldownMs     float64 `json:"fetchCooldownMs"`
		FetchPollIntervalMs float64 `json:"fetchPollIntervalMs"`
		MaxConns            int     `json:"maxConns"`
	} `json:"config"`
	Figures []peerFigure `json:"figures"`
}

// peerFigure is one of the peer's figures: one sample per run.
type peerFigure struct {
	Key     string    `json:"key"`
	Unit    string    `json:"unit"`
	Samples []float64 `json:"samples"`
}

// parsePeerOutput decodes riverpeer's stdout: one JSON document with at
// least one figure.
func parsePeerOutput(raw []byte) (*peerOutput, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var out peerOutput
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("decode the peer's output: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decode the peer's output: more than one JSON document")
	}
	if len(out.Figures) == 0 {
		return nil, errors.New("the peer reported no figures")
	}
	return &out, nil
}

// addPeer files a peer's figures under prefix: each key must name a
// figure of the table with the same unit. Nothing is added unless every
// figure fits, so that a peer out of step with the table is an error, not
// a half-filled table.
func (r *results) addPeer(prefix string, figs []peerFigure) error {
	for _, f := range figs {
		spec, ok := r.byKey[prefix+f.Key]
		if !ok {
			return fmt.Errorf("the peer reported %q, which the table has no row %q for", f.Key, prefix+f.Key)
		}
		if spec.Unit != f.Unit {
			return fmt.Errorf("the peer reported %q in %s, the table shows it in %s", f.Key, f.Unit, spec.Unit)
		}
		if len(f.Samples) == 0 {
			return fmt.Errorf("the peer reported %q without a sample", f.Key)
		}
	}
	for _, f := range figs {
		for _, v := range f.Samples {
			r.add(prefix+f.Key, v)
		}
	}
	return nil
}

// river runs the River peer against cfg.databaseURL with the sizes of
// this run. Without a database that answers it says why and skips: the
// bench must run on a machine without PostgreSQL.
func (b *bench) river(ctx context.Context) error {
	if err := b.dialDatabase(ctx); err != nil {
		b.logf("   River peer skipped: no database answers at %s (%v); set TASKHOST_TEST_DATABASE_URL or -database-url", redactURL(b.cfg.databaseURL), err)
		b.res.details["river"] = map[string]any{"skipped": err.Error()}
		return nil
	}
	dir, err := moduleDir(ctx)
	if err != nil {
		return err
	}
	bin := filepath.Join(b.root, "riverpeer")
	t0 := time.Now()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Dir = filepath.Join(dir, riverPeerDir)
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build the River peer in %s: %v\n%s", build.Dir, err, out)
	}
	b.logf("   built the River peer in %v", time.Since(t0).Round(time.Millisecond))

	// The URL goes by the environment, not the command line, where any
	// user could read its password.
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, b.peerArgs()...)
	cmd.Env = append(os.Environ(), "TASKHOST_TEST_DATABASE_URL="+b.cfg.databaseURL)
	cmd.Stdout, cmd.Stderr = &stdout, b.log
	// Interrupted, the peer still drops its schema.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 30 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("the River peer: %w", err)
	}
	out, err := parsePeerOutput(stdout.Bytes())
	if err != nil {
		return err
	}
	if err := b.res.addPeer(riverPrefix, out.Figures); err != nil {
		return err
	}
	b.res.details["river"] = out
	return nil
}

// dialDatabase checks that something listens where cfg.databaseURL
// points, within 2 seconds.
func (b *bench) dialDatabase(ctx context.Context) error {
	network, addr, err := databaseAddr(b.cfg.databaseURL)
	if err != nil {
		return err
	}
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := d.DialContext(dctx, network, addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// peerArgs passes this run's sizes to the peer.
func (b *bench) peerArgs() []string {
	c := b.cfg
	return []string{
		"-runs", strconv.Itoa(c.runs), "-slow-runs", strconv.Itoa(c.slowRuns),
		"-bulk-jobs", strconv.Itoa(c.bulkTasks), "-bulk-batch", strconv.Itoa(c.bulkBatch), "-overlap-batch", strconv.Itoa(c.overlapBatch),
		"-paced-rate", strconv.Itoa(c.pacedRate), "-paced-duration", c.pacedDur.String(),
		"-create-duration", c.createDur.String(), "-workers", strconv.Itoa(workers),
	}
}

// riverLine says which River ran and how it was set up, or why it did
// not, for under the table; "" when the scenario was not asked for.
func (r *results) riverLine() string {
	if m, ok := r.details["river"].(map[string]any); ok {
		return fmt.Sprintf("river (peer): skipped, no database answered (%v)", m["skipped"])
	}
	out, ok := r.details["river"].(*peerOutput)
	if !ok {
		return ""
	}
	c := out.Config
	return fmt.Sprintf("river (peer): River %s with riverpgxv5, %d workers, FetchCooldown %s ms, FetchPollInterval %s ms, %d pool connections; River marks jobs completed in batches, every 250 ms when few are waiting (not configurable), hence its insert → completed latencies",
		out.River, c.Workers, formatNumber(c.FetchCooldownMs), formatNumber(c.FetchPollIntervalMs), c.MaxConns)
}

// moduleDir is the root of the taskhost checkout this runs in (the
// directory of the go.mod the go command finds from here).
func moduleDir(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the taskhost checkout: run taskbench from it to find the River peer")
	}
	return filepath.Dir(gomod), nil
}

// databaseAddr is where a postgres:// URL's server listens: TCP host and
// port, or the Unix socket in a directory host. Only the first of several
// hosts counts.
func databaseAddr(raw string) (network, addr string, err error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", "", errors.New("not a postgres:// URL")
	}
	host, port := u.Host, ""
	if i := strings.IndexByte(host, ','); i >= 0 {
		host = host[:i]
	}
	if h, p, err := net.SplitHostPort(host); err == nil {
		host, port = h, p
	}
	q := u.Query()
	host = strings.Trim(cmp.Or(host, q.Get("host"), "localhost"), "[]")
	port = cmp.Or(port, q.Get("port"), "5432")
	if strings.HasPrefix(host, "/") {
		return "unix", filepath.Join(host, ".s.PGSQL."+port), nil
	}
	return "tcp", net.JoinHostPort(host, port), nil
}

// redactURL is the URL without its password; what is not a URL is not
// shown.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "the database named"
	}
	return u.Redacted()
}
