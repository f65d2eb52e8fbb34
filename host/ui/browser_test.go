package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/api"
	"github.com/taskhost/taskhost/host/internal/testplugin"
	"github.com/taskhost/taskhost/host/scheduler"
	"github.com/taskhost/taskhost/host/store"
	"github.com/taskhost/taskhost/host/store/badgerstore"
	"github.com/taskhost/taskhost/host/store/pgstore"
	"github.com/taskhost/taskhost/host/store/pgstore/pgtest"
	"github.com/taskhost/taskhost/host/ui"
	"github.com/taskhost/taskhost/shared"
)

// The browser tests drive Debian's Chromium (never one a tool downloads)
// with chromedp against a real host: testworker plugins as subprocesses,
// Badger in a temporary directory, the API and the dashboard on
// 127.0.0.1. Without Chromium they skip, but fail when CI is set.

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// screenshotsEnv names the directory the tests write the pages'
// screenshots to (make screenshots: docs/ui); unset, a temporary one.
const screenshotsEnv = "TASKHOST_UI_SCREENSHOTS"

var (
	testworker string
	// browser is the one Chromium the tests share, each in a tab of its
	// own; started by the first test that needs it.
	browser struct {
		once   sync.Once
		ctx    context.Context
		cancel context.CancelFunc
		err    error
	}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ui-test")
	if err == nil {
		testworker, err = testplugin.Build(dir, "testworker")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	if browser.cancel != nil {
		browser.cancel()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// tab opens a new tab of the shared browser, for at most a minute; it
// closes when the test ends.
func tab(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := newTab(t)
	t.Cleanup(cancel)
	return ctx
}

// newTab opens a new tab of the shared browser, for at most a minute;
// cancel closes it.
func newTab(t *testing.T) (ctx context.Context, cancel func()) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing and CI is set: the dashboard's browser tests must run (apt-get install -y chromium)", chromiumPath)
		}
		t.Skipf("no %s: the dashboard's browser tests are skipped (apt-get install -y chromium)", chromiumPath)
	}
	browser.once.Do(func() {
		opts := []chromedp.ExecAllocatorOption{
			chromedp.ExecPath(chromiumPath),
			chromedp.Flag("headless", true),
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.NoFirstRun,
			chromedp.NoDefaultBrowserCheck,
			chromedp.WindowSize(1280, 1400),
			chromedp.UserDataDir(filepath.Join(os.TempDir(), fmt.Sprintf("ui-test-chromium-%d", os.Getpid()))),
		}
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancel := chromedp.NewContext(alloc)
		// The first action starts the browser.
		browser.err = chromedp.Do(ctx)
		browser.ctx = ctx
		browser.cancel = func() {
			cancel()
			cancelAlloc()
			os.RemoveAll(filepath.Join(os.TempDir(), fmt.Sprintf("ui-test-chromium-%d", os.Getpid())))
		}
	})
	require.NoError(t, browser.err, "start chromium")
	ctx, closeTab := chromedp.NewContext(browser.ctx)
	ctx, cancelTimeout := context.WithTimeout(ctx, time.Minute)
	return ctx, func() { cancelTimeout(); closeTab() }
}

// env is a started host with testworker handlers, its API and dashboard
// on 127.0.0.1, and a client of it.
type env struct {
	h      *host.Host
	srv    *api.Server
	url    string
	client *api.Client
}

type envOptions struct {
	token    string
	readOnly bool
	// node names the host, "ui-test" when empty; cluster says its store
	// is shared.
	node    string
	cluster bool
}

// testStore is what a test host needs of its store.
type testStore interface {
	store.Store
	scheduler.Store
	api.Counter
}

// setup serves a host on Badger in a temporary directory.
func setup(t *testing.T, o envOptions) *env {
	t.Helper()
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: logWriter{t}})
	st, err := badgerstore.Open(t.TempDir(), badgerstore.Options{Logger: log})
	require.NoError(t, err)
	return serveHost(t, st, o)
}

// serveHost serves a host on st, which it closes when the test ends.
func serveHost(t *testing.T, st testStore, o envOptions) *env {
	t.Helper()
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: logWriter{t}})
	if o.node == "" {
		o.node = "ui-test"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "http://" + ln.Addr().String()
	hostOpts := host.Options{Logger: log, NodeID: o.node, Address: url}
	if o.cluster {
		hostOpts.TaskInterval, hostOpts.Lease = time.Second, 3*time.Second
	}
	h, err := host.New(st, hostOpts)
	require.NoError(t, err)
	ctx := context.Background()
	for typ, method := range map[string]string{"echo": "echo", "sleep": "sleep", "progress": "progress", "fail": "fail"} {
		require.NoError(t, h.RegisterHandler(ctx, typ, testworker, method, nil, host.HandlerOptions{IdleShutdownTimeout: host.KeepForever, MaxWorkerCount: 2}))
	}
	sched, err := scheduler.New(st, scheduler.Options{Logger: log})
	require.NoError(t, err)
	require.NoError(t, sched.AddTask(ctx, "nightly-report", []shared.ScheduledTaskTime{{IntervalHours: 24}},
		h.TaskCallback("echo", json.RawMessage(`{"report":"nightly"}`), host.CreateOptions{}), scheduler.Idempotent()))
	require.NoError(t, sched.AddTask(ctx, "weekday-import", []shared.ScheduledTaskTime{{Cron: "CRON_TZ=UTC 30 3 * * 1-5"}},
		h.TaskCallback("echo", nil, host.CreateOptions{}), scheduler.Idempotent()))
	require.NoError(t, h.Start(ctx))
	require.NoError(t, sched.Start(ctx))

	dashboard, err := ui.NewHandler(ui.Options{ReadOnly: o.readOnly, TokenRequired: o.token != "", NodeID: o.node, Cluster: o.cluster})
	require.NoError(t, err)
	srv := api.NewServer(h, api.ServerOptions{
		Logger: log, Schedules: sched, Counts: st, Token: o.token,
		UI: dashboard, UIReadOnly: o.readOnly,
	})
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	hs.RegisterOnShutdown(srv.Close)
	go func() { _ = hs.Serve(ln) }()
	var clientOpts []api.ClientOption
	if o.token != "" {
		clientOpts = append(clientOpts, api.WithToken(o.token))
	}
	client, err := api.NewClient(url, clientOpts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, hs.Shutdown(ctx))
		require.NoError(t, sched.Stop(ctx))
		require.NoError(t, h.Stop(ctx))
		require.NoError(t, st.Close())
	})
	return &env{h: h, srv: srv, url: url, client: client}
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func (e *env) create(t *testing.T, typ, payload string, opts host.CreateOptions) string {
	t.Helper()
	var raw json.RawMessage
	if payload != "" {
		raw = json.RawMessage(payload)
	}
	id, err := e.client.Create(context.Background(), typ, raw, opts)
	require.NoError(t, err)
	return id
}

func (e *env) waitStatus(t *testing.T, id string, status shared.Status) {
	t.Helper()
	require.Eventually(t, func() bool {
		task, err := e.client.Get(context.Background(), id)
		return err == nil && task.Status == status
	}, 30*time.Second, 10*time.Millisecond, "task %s to be %s", id, status)
}

// waitJS waits until the JavaScript expression is true in the page, for
// up to within; what says what it waits for.
func waitJS(t *testing.T, ctx context.Context, within time.Duration, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('main') ? document.querySelector('main').innerText : document.body.innerText`))
			t.Fatalf("timed out after %v waiting for %s (%s; last error %v); the page says:\n%s", within, what, expr, err, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// eval runs expr in the page and returns its value.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	require.NoError(t, err, expr)
	return v
}

// do runs actions in the page.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, steps...))
}

// run evaluates a statement in the page, for its effect.
func run(js string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](js)
}

// screenshot writes the page as name.png where the README finds it (see
// screenshotsEnv).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv(screenshotsEnv)
	if dir == "" {
		dir = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
}

const pageTimeout = 15 * time.Second

func TestBrowserOverviewCountsSeededTasks(t *testing.T) {
	t.Parallel()
	ctx := tab(t)
	e := setup(t, envOptions{})
	for range 3 {
		e.create(t, "waiting", "", host.CreateOptions{}) // no handler: stays pending
	}
	var done []string
	for i := range 4 {
		done = append(done, e.create(t, "echo", fmt.Sprintf(`{"n":%d}`, i), host.CreateOptions{RetainFor: host.RetainForever}))
	}
	failed := e.create(t, "fail", `{"message":"disk full","permanent":true}`, host.CreateOptions{RetainFor: host.RetainForever})
	for _, id := range done {
		e.waitStatus(t, id, shared.StatusSuccess)
	}
	e.waitStatus(t, failed, shared.StatusFailed)

	do(t, ctx, chromedp.Navigate(e.url+"/ui/"))
	count := func(typ, status string) string {
		return fmt.Sprintf(`(document.querySelector('a[data-count="%s/%s"]') || {}).textContent`, typ, status)
	}
	waitJS(t, ctx, pageTimeout, "the seeded counts", fmt.Sprintf(`%s === "3" && %s === "4" && %s === "1" && %s === "0" && %s === "8"`,
		count("waiting", "pending"), count("echo", "success"), count("fail", "failed"), count("echo", "failed"), count("*", "*")))
	waitJS(t, ctx, pageTimeout, "the workers", `/alive/.test(document.getElementById('workers-total')?.textContent || '')`)
	waitJS(t, ctx, pageTimeout, "the charts", `document.querySelectorAll('figure.chart svg polyline').length === 7`)
	summary := eval[string](t, ctx, `document.querySelector('figure.chart p').textContent`)
	require.Contains(t, summary, "4 succeeded, 1 failed")
	screenshot(t, ctx, "overview")

	// Narrow, and dark: the same page still works.
	do(t, ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
			})
			return err
		}),
		chromedp.Reload())
	waitJS(t, ctx, pageTimeout, "the counts on a narrow screen", count("waiting", "pending")+` === "3"`)
	require.False(t, eval[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth + 1`), "nothing wider than the screen but inside scrollers")
	bg := eval[string](t, ctx, `getComputedStyle(document.body).backgroundColor`)
	require.Equal(t, "rgb(20, 23, 27)", bg, "dark background when the system is dark")
	screenshot(t, ctx, "overview-narrow-dark")
}

// liveTaskList serves a host with one pending task and shows its task
// list, live.
func liveTaskList(t *testing.T) (context.Context, *env) {
	t.Helper()
	ctx := tab(t)
	e := setup(t, envOptions{})
	e.create(t, "waiting", "", host.CreateOptions{})
	do(t, ctx, chromedp.Navigate(e.url+"/ui/tasks"))
	waitJS(t, ctx, pageTimeout, "the first task", `document.querySelectorAll('#list tbody tr').length === 1`)
	waitJS(t, ctx, pageTimeout, "the live stream", `document.getElementById('live-state').dataset.state === 'live'`)
	return ctx, e
}

func TestBrowserNewTaskAppearsWithoutReload(t *testing.T) {
	t.Parallel()
	ctx, e := liveTaskList(t)
	// A mark that a reload would wipe.
	do(t, ctx, run(`window.notReloaded = true`))

	id := e.create(t, "waiting", `{"new":true}`, host.CreateOptions{})
	waitJS(t, ctx, 2*time.Second, "the new task in the list", fmt.Sprintf(`!!document.querySelector('#list tr[data-id="%s"]')`, id))
	require.True(t, eval[bool](t, ctx, `window.notReloaded === true`), "the page was not reloaded")
	require.Equal(t, id, eval[string](t, ctx, `document.querySelector('#list tbody tr').dataset.id`), "newest first")
}

func TestBrowserFilterAndPaging(t *testing.T) {
	t.Parallel()
	ctx := tab(t)
	e := setup(t, envOptions{})
	var alpha []string
	for i := range 7 {
		alpha = append(alpha, e.create(t, "alpha", fmt.Sprintf(`%d`, i), host.CreateOptions{}))
	}
	for range 3 {
		e.create(t, "beta", "", host.CreateOptions{})
	}
	rows := `[...document.querySelectorAll('#list tbody tr')].map(r => r.dataset.id).join(',')`
	do(t, ctx, chromedp.Navigate(e.url+"/ui/tasks?type=alpha&limit=3&order=asc"))
	pages := [][]string{alpha[0:3], alpha[3:6], alpha[6:7]}
	for i, want := range pages {
		waitJS(t, ctx, pageTimeout, fmt.Sprintf("page %d", i+1), fmt.Sprintf(`%s === %q`, rows, strings.Join(want, ",")))
		require.Equal(t, i < len(pages)-1, !eval[bool](t, ctx, `document.getElementById('page-next').disabled`), "Next on page %d", i+1)
		if i < len(pages)-1 {
			do(t, ctx, chromedp.Click(chromedp.CSS("#page-next")))
		}
	}
	do(t, ctx, chromedp.Click(chromedp.CSS("#page-prev")))
	waitJS(t, ctx, pageTimeout, "page 2 again", fmt.Sprintf(`%s === %q`, rows, strings.Join(pages[1], ",")))

	// Another type and a status, through the form.
	do(t, ctx, run(`(() => {
		const s = document.getElementById('f-type'); s.value = 'beta'; s.dispatchEvent(new Event('change'));
	})()`))
	waitJS(t, ctx, pageTimeout, "the beta tasks", `(() => {
		const rs = [...document.querySelectorAll('#list tbody tr')];
		return rs.length === 3 && rs.every(r => r.children[2].textContent === 'beta');
	})()`)
	require.Contains(t, eval[string](t, ctx, `location.search`), "type=beta")
	do(t, ctx, run(`(() => {
		const s = document.getElementById('f-status'); s.value = 'success'; s.dispatchEvent(new Event('change'));
	})()`))
	waitJS(t, ctx, pageTimeout, "no successful beta task", `!!document.getElementById('no-tasks')`)
	screenshot(t, ctx, "tasks-empty-filter")
}

// threeWaiting opens the task list on three pending tasks of a type no
// handler runs.
func threeWaiting(t *testing.T) (context.Context, *env, []string) {
	t.Helper()
	ctx := tab(t)
	e := setup(t, envOptions{})
	var ids []string
	for range 3 {
		ids = append(ids, e.create(t, "waiting", "", host.CreateOptions{RetainFor: host.RetainForever}))
	}
	do(t, ctx, chromedp.Navigate(e.url+"/ui/tasks?type=waiting&order=asc"))
	waitJS(t, ctx, pageTimeout, "three tasks", `document.querySelectorAll('#list tbody tr').length === 3`)
	return ctx, e, ids
}

func TestBrowserBulkActionsAskFirst(t *testing.T) {
	t.Parallel()
	ctx, e, ids := threeWaiting(t)
	// The first, then shift-click the third: all three.
	do(t, ctx,
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`input[data-key="sel-%s"]`, ids[0]))),
		run(fmt.Sprintf(`document.querySelector('input[data-key="sel-%s"]').dispatchEvent(new MouseEvent('click', {shiftKey: true, bubbles: true}))`, ids[2])))
	waitJS(t, ctx, pageTimeout, "three selected", `document.getElementById('selected-count').textContent === '3 selected'`)
	screenshot(t, ctx, "tasks")

	// Asked, and kept: nothing happens.
	do(t, ctx, chromedp.Click(chromedp.CSS("#bulk-cancel")))
	waitJS(t, ctx, pageTimeout, "the confirmation", `document.getElementById('confirm-dialog').open`)
	require.Contains(t, eval[string](t, ctx, `document.getElementById('confirm-text').textContent`), "Cancel 3 task(s)?")
	do(t, ctx, chromedp.Click(chromedp.CSS("#confirm-no")))
	waitJS(t, ctx, pageTimeout, "the dialog to close", `!document.getElementById('confirm-dialog').open`)
	task, err := e.client.Get(context.Background(), ids[1])
	require.NoError(t, err)
	require.Equal(t, shared.StatusPending, task.Status)

	// Asked, and confirmed.
	do(t, ctx, chromedp.Click(chromedp.CSS("#bulk-cancel")))
	waitJS(t, ctx, pageTimeout, "the confirmation", `document.getElementById('confirm-dialog').open`)
	do(t, ctx, chromedp.Click(chromedp.CSS("#confirm-yes")))
	waitJS(t, ctx, pageTimeout, "the summary", `document.getElementById('bulk-result').textContent.includes('3 cancelled')`)
	for _, id := range ids {
		e.waitStatus(t, id, shared.StatusCancelled)
	}
	waitJS(t, ctx, pageTimeout, "the list to show them cancelled", `[...document.querySelectorAll('#list tbody tr')].every(r => r.dataset.status === 'cancelled')`)
}

// A question asked again before the close event of the last answer has
// come (in the same task as the answer) is answered on its own: the yes
// to the second does not also answer the first, whose "keep" stands, so
// each task is cancelled once.
func TestBrowserConfirmAskedAgainAtOnce(t *testing.T) {
	t.Parallel()
	ctx, e, ids := threeWaiting(t)
	for _, id := range ids {
		do(t, ctx, chromedp.Click(chromedp.CSS(fmt.Sprintf(`input[data-key="sel-%s"]`, id))))
	}
	waitJS(t, ctx, pageTimeout, "three selected", `document.getElementById('selected-count').textContent === '3 selected'`)
	do(t, ctx, chromedp.Click(chromedp.CSS("#bulk-cancel")))
	waitJS(t, ctx, pageTimeout, "the confirmation", `document.getElementById('confirm-dialog').open`)
	do(t, ctx, run(`document.getElementById('confirm-no').click(); document.getElementById('bulk-cancel').click()`))
	require.True(t, eval[bool](t, ctx, `document.getElementById('confirm-dialog').open`), "asked again")
	do(t, ctx, chromedp.Click(chromedp.CSS("#confirm-yes")))
	waitJS(t, ctx, pageTimeout, "the summary", `document.getElementById('bulk-result').textContent.includes('3 cancelled')`)
	require.NotContains(t, eval[string](t, ctx, `document.getElementById('bulk-result').textContent`), "refused")
	for _, id := range ids {
		e.waitStatus(t, id, shared.StatusCancelled)
	}
}

func TestBrowserCancelRunningTaskFromItsPage(t *testing.T) {
	t.Parallel()
	ctx := tab(t)
	e := setup(t, envOptions{})
	id := e.create(t, "sleep", `{"ms":60000}`, host.CreateOptions{RetainFor: host.RetainForever, RetryCount: 2})
	e.waitStatus(t, id, shared.StatusProcessing)
	// By its URN, which the API takes too.
	do(t, ctx, chromedp.Navigate(e.url+"/ui/tasks/background-task:default:"+id))
	waitJS(t, ctx, pageTimeout, "the running task", `!!document.getElementById('action-cancel') && !document.getElementById('action-cancel').disabled`)
	require.True(t, eval[bool](t, ctx, `document.getElementById('action-retry').disabled`))
	require.Contains(t, eval[string](t, ctx, `document.getElementById('why-retry').textContent`), "only pending")
	require.Equal(t, "why-retry", eval[string](t, ctx, `document.getElementById('action-retry').getAttribute('aria-describedby')`))
	require.Contains(t, eval[string](t, ctx, `document.querySelector('.fields').textContent`), "Retries left2")
	require.Contains(t, eval[string](t, ctx, `document.getElementById('json-payload').textContent`), `"ms": 60000`)

	do(t, ctx, chromedp.Click(chromedp.CSS("#action-cancel")))
	waitJS(t, ctx, pageTimeout, "the confirmation", `document.getElementById('confirm-dialog').open`)
	do(t, ctx, chromedp.Click(chromedp.CSS("#confirm-yes")))
	waitJS(t, ctx, pageTimeout, "the task shown cancelled", `document.querySelector('#task h1 .status').textContent === 'cancelled'`)
	task, err := e.client.Get(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, shared.StatusCancelled, task.Status)
	require.True(t, eval[bool](t, ctx, `document.getElementById('action-cancel').disabled`), "a cancelled task cannot be cancelled again")
	require.Contains(t, eval[string](t, ctx, `document.querySelector('.fields').textContent`), "Cancelled20", "its cancel time")
}

func TestBrowserProgressMovesLive(t *testing.T) {
	t.Parallel()
	ctx := tab(t)
	e := setup(t, envOptions{})
	id := e.create(t, "progress", `{"steps":25,"delayMs":250}`, host.CreateOptions{RetainFor: host.RetainForever})
	e.waitStatus(t, id, shared.StatusProcessing)
	do(t, ctx, chromedp.Navigate(e.url+"/ui/tasks/"+id))
	bar := `Number((document.querySelector('#progress [role=progressbar]') || {getAttribute: () => -1}).getAttribute('aria-valuenow'))`
	waitJS(t, ctx, pageTimeout, "a first progress", bar+` >= 0 && document.querySelector('#task h1 .status').textContent === 'processing'`)
	do(t, ctx, run(`window.notReloaded = true`))
	first := eval[float64](t, ctx, bar)
	waitJS(t, ctx, pageTimeout, "the progress to move", fmt.Sprintf(`%s > %v && %s < 100`, bar, first, bar))
	screenshot(t, ctx, "task")
	waitJS(t, ctx, 30*time.Second, "the task to succeed", `document.querySelector('#task h1 .status').textContent === 'success'`)
	require.True(t, eval[bool](t, ctx, `window.notReloaded === true`), "the page was not reloaded")
	require.Equal(t, "25", strings.TrimSpace(eval[string](t, ctx, `document.getElementById('json-result').textContent`)))
}

func TestBrowserTokenPromptRefusesAWrongToken(t *testing.T) {
	t.Parallel()
	ctx := tab(t)
	e := setup(t, envOptions{token: "s3cret-token"})
	e.create(t, "waiting", "", host.CreateOptions{})
	do(t, ctx, chromedp.Navigate(e.url+"/ui/"))
	waitJS(t, ctx, pageTimeout, "the token prompt", `document.getElementById('token-dialog').open`)
	screenshot(t, ctx, "token")
	do(t, ctx,
		chromedp.SendKeys(chromedp.CSS("#token-input"), "wrong"),
		chromedp.Click(chromedp.CSS("#token-submit")))
	waitJS(t, ctx, pageTimeout, "the refusal", `!document.getElementById('token-error').hidden`)
	require.Contains(t, eval[string](t, ctx, `document.getElementById('token-error').textContent`), "refused")
	require.True(t, eval[bool](t, ctx, `document.getElementById('token-dialog').open`), "the prompt stays")
	require.True(t, eval[bool](t, ctx, `sessionStorage.getItem('taskhost.token') === null`), "a refused token is not kept")

	do(t, ctx,
		run(`document.getElementById('token-input').value = ''`),
		chromedp.SendKeys(chromedp.CSS("#token-input"), "s3cret-token"),
		chromedp.Click(chromedp.CSS("#token-submit")))
	waitJS(t, ctx, pageTimeout, "the overview", `(document.querySelector('a[data-count="waiting/pending"]') || {}).textContent === '1'`)
	require.False(t, eval[bool](t, ctx, `document.getElementById('token-dialog').open`))
	require.Equal(t, "s3cret-token", eval[string](t, ctx, `sessionStorage.getItem('taskhost.token')`), "kept for the tab's session")
	require.True(t, eval[bool](t, ctx, `localStorage.length === 0`), "never in localStorage")
	waitJS(t, ctx, pageTimeout, "the live stream with the token", `document.getElementById('live-state').dataset.state === 'live'`)
}

func TestBrowserReadOnlyShowsNoActions(t *testing.T) {
	t.Parallel()
	ctx := tab(t)
	e := setup(t, envOptions{readOnly: true})
	id := e.create(t, "waiting", "", host.CreateOptions{RetainFor: host.RetainForever})
	do(t, ctx, chromedp.Navigate(e.url+"/ui/tasks"))
	waitJS(t, ctx, pageTimeout, "the task", fmt.Sprintf(`!!document.querySelector('#list tr[data-id="%s"]')`, id))
	require.Zero(t, eval[int](t, ctx, `document.querySelectorAll('#list input[type=checkbox]').length`), "no selection")
	require.False(t, eval[bool](t, ctx, `!!document.getElementById('bulk')`), "no bulk actions")
	require.True(t, eval[bool](t, ctx, `!!document.getElementById('read-only')`), "it says it is read-only")

	do(t, ctx, chromedp.Navigate(e.url+"/ui/tasks/"+id))
	waitJS(t, ctx, pageTimeout, "the task's page", `!!document.querySelector('#task h1 .status')`)
	require.Zero(t, eval[int](t, ctx, `document.querySelectorAll('main button').length`), "no action on the task's page")

	// And the host refuses the dashboard's changes, even typed in the
	// console without the dashboard's header.
	status := eval[float64](t, ctx, fmt.Sprintf(`fetch('/v1/tasks/%s/cancel', {method: 'POST'}).then(r => r.status)`, id))
	require.Equal(t, float64(http.StatusForbidden), status)
	task, err := e.client.Get(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, shared.StatusPending, task.Status)
	require.NoError(t, e.client.Cancel(context.Background(), id), "the API outside a browser still may")
}

func TestBrowserHandlersSchedulesAndNodes(t *testing.T) {
	t.Parallel()
	ctx := tab(t)
	e := setup(t, envOptions{})
	id := e.create(t, "sleep", `{"ms":60000}`, host.CreateOptions{RetainFor: host.RetainForever})
	e.waitStatus(t, id, shared.StatusProcessing)
	done := e.create(t, "echo", `1`, host.CreateOptions{})
	_ = done

	do(t, ctx, chromedp.Navigate(e.url+"/ui/handlers"))
	waitJS(t, ctx, pageTimeout, "the sleep worker running the task", fmt.Sprintf(
		`[...document.querySelectorAll('#handler-sleep tbody tr')].some(r => r.textContent.includes('busy') && !!r.querySelector('a[title="%s"]'))`, id))
	row := eval[string](t, ctx, `document.querySelector('#handler-sleep tbody tr').textContent`)
	require.Regexp(t, `MiB`, row, "its RSS")
	pid := eval[string](t, ctx, `document.querySelector('#handler-sleep tbody tr').dataset.pid`)
	require.NotEmpty(t, pid)
	require.True(t, testplugin.Alive(atoi(t, pid)), "the pid shown is a live process")
	screenshot(t, ctx, "handlers")

	do(t, ctx, chromedp.Navigate(e.url+"/ui/schedules"))
	waitJS(t, ctx, pageTimeout, "the schedules", `document.querySelectorAll('#schedules tbody tr').length === 2`)
	text := eval[string](t, ctx, `document.getElementById('schedules').textContent`)
	require.Contains(t, text, "every 24 h")
	require.Contains(t, text, "cron CRON_TZ=UTC 30 3 * * 1-5")
	require.Contains(t, text, "not yet")
	screenshot(t, ctx, "schedules")

	do(t, ctx, chromedp.Navigate(e.url+"/ui/nodes"))
	waitJS(t, ctx, pageTimeout, "this node", `document.getElementById('nodes').textContent.includes('ui-test')`)

	// Keyboard: the skip link comes first and leads to the content.
	do(t, ctx, chromedp.Navigate(e.url+"/ui/"), chromedp.KeyEvent("\t"))
	require.Equal(t, "Skip to content", eval[string](t, ctx, `document.activeElement.textContent`))
	require.NoError(t, e.client.Cancel(context.Background(), id))
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	_, err := fmt.Sscan(s, &n)
	require.NoError(t, err)
	return n
}

func TestBrowserClusterShowsTheNodes(t *testing.T) {
	t.Parallel()
	url, schema := pgtest.Schema(t)
	ctx := tab(t)
	open := func() *pgstore.Store {
		st, err := pgstore.Open(context.Background(), url, pgstore.Options{Schema: schema})
		require.NoError(t, err)
		return st
	}
	a := serveHost(t, open(), envOptions{node: "node-a", cluster: true})
	b := serveHost(t, open(), envOptions{node: "node-b", cluster: true})

	do(t, ctx, chromedp.Navigate(a.url+"/ui/"))
	waitJS(t, ctx, pageTimeout, "both nodes on the overview", `(() => {
		const n = document.getElementById('nodes');
		return !!n && n.textContent.includes('node-a') && n.textContent.includes('node-b');
	})()`)
	require.True(t, eval[bool](t, ctx, `!!document.querySelector('nav a[href="/ui/nodes"]')`), "the nodes page is listed")
	require.Contains(t, eval[string](t, ctx, `document.getElementById('live-state').textContent`), "polling other nodes")

	// A task created through the other node shows here too.
	do(t, ctx, chromedp.Navigate(a.url+"/ui/tasks"))
	waitJS(t, ctx, pageTimeout, "the list", `!!document.querySelector('#list table, #no-tasks')`)
	id := b.create(t, "waiting", "", host.CreateOptions{})
	waitJS(t, ctx, pageTimeout, "the task created on node-b", fmt.Sprintf(`!!document.querySelector('#list tr[data-id="%s"]')`, id))

	do(t, ctx, chromedp.Navigate(a.url+"/ui/nodes"))
	waitJS(t, ctx, pageTimeout, "the nodes page", `document.querySelectorAll('#nodes tbody tr').length === 2`)
	require.Contains(t, eval[string](t, ctx, `document.getElementById('nodes').textContent`), b.url, "each node's address")
	screenshot(t, ctx, "nodes")
}

func TestBrowserPauseAndPollingWhenTheStreamDrops(t *testing.T) {
	t.Parallel()
	ctx, e := liveTaskList(t)
	state := `document.getElementById('live-state').dataset.state`
	rows := `document.querySelectorAll('#list tbody tr').length`

	// Paused, then resumed: what was created meanwhile shows.
	do(t, ctx, chromedp.Click(chromedp.CSS("#pause")))
	waitJS(t, ctx, pageTimeout, "the pause", state+` === 'paused' && document.getElementById('pause').getAttribute('aria-pressed') === 'true'`)
	e.create(t, "waiting", "", host.CreateOptions{})
	do(t, ctx, chromedp.Click(chromedp.CSS("#pause")))
	waitJS(t, ctx, pageTimeout, "live again, with the task created while paused", state+` === 'live' && `+rows+` === 2`)

	// The stream drops (the server ends every stream and opens no more):
	// the page polls, and a new task still shows.
	e.srv.Close()
	waitJS(t, ctx, pageTimeout, "polling", state+` === 'polling'`)
	id := e.create(t, "waiting", "", host.CreateOptions{})
	waitJS(t, ctx, pageTimeout, "the task found by polling", fmt.Sprintf(`!!document.querySelector('#list tr[data-id="%s"]')`, id))
	require.Equal(t, "polling", eval[string](t, ctx, state))
}
