package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/shared"
)

// maxEventSize bounds one event of an event stream: a task with a
// payload and a result of the default maximum size, and then some.
const maxEventSize = 8 << 20

// Client talks to a taskhost over its HTTP API. Its methods mirror
// host.Host's; errors the server sends are *[Error].
type Client struct {
	base  string // scheme://host[:port][/prefix], no trailing slash
	hc    *http.Client
	token string // sent as a bearer token when set
	warn  func(string)
}

// ClientOption configures a [Client].
type ClientOption func(*Client)

// WithHTTPClient makes the client send its requests through hc (default
// http.DefaultClient). Event streams last long: give hc no Timeout and
// bound calls with their contexts.
func WithHTTPClient(hc *http.Client) ClientOption {
	return func(c *Client) { c.hc = hc }
}

// WithToken makes the client send the API token with every request.
func WithToken(token string) ClientOption {
	return func(c *Client) { c.token = token }
}

// WithWarningHandler makes the client call fn with the text of every
// Warning header the host answers with, such as the one a create of a
// task type without a handler gets. By default warnings are dropped.
func WithWarningHandler(fn func(text string)) ClientOption {
	return func(c *Client) { c.warn = fn }
}

// NewClient returns a client of the host at addr: "host:port",
// "http://host:port" or "https://host:port", optionally with a path
// prefix.
func NewClient(addr string, opts ...ClientOption) (*Client, error) {
	raw := addr
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: address %q: %v", shared.ErrInvalidArgument, addr, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w: address %q: want host:port or http://host:port", shared.ErrInvalidArgument, addr)
	}
	c := &Client{base: strings.TrimSuffix(u.String(), "/"), hc: http.DefaultClient}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Addr is the base URL the client sends to.
func (c *Client) Addr() string { return c.base }

// Create creates a task and returns its id.
func (c *Client) Create(ctx context.Context, typ string, payload json.RawMessage, opts host.CreateOptions) (string, error) {
	var resp CreateResponse
	err := c.do(ctx, http.MethodPost, "/v1/tasks", nil, NewTaskRequest(typ, payload, opts), &resp)
	return resp.ID, err
}

// CreateMany creates tasks, all or none, and returns their ids in order.
func (c *Client) CreateMany(ctx context.Context, tasks []host.NewTask) ([]string, error) {
	req := BatchRequest{Tasks: make([]TaskRequest, len(tasks))}
	for i, t := range tasks {
		req.Tasks[i] = NewTaskRequest(t.Type, t.Payload, t.Options)
	}
	var resp BatchResponse
	err := c.do(ctx, http.MethodPost, "/v1/tasks/batch", nil, req, &resp)
	return resp.IDs, err
}

// CreateWatch creates a task and calls fn with its states: the task as
// created, then every change of it, until it is terminal or removed (the
// host watches it from before it is written, so its final state is not
// missed even when it ends at once and retention removes it), which
// returns nil. It also returns nil when the host ends the stream early
// (it is stopping): the last state fn saw then is not terminal. If ctx
// ends it returns ctx.Err(). fn runs on the caller's goroutine. The id
// is that of the first state.
func (c *Client) CreateWatch(ctx context.Context, typ string, payload json.RawMessage, opts host.CreateOptions, fn func(shared.Task)) (string, error) {
	data, err := json.Marshal(NewTaskRequest(typ, payload, opts))
	if err != nil {
		return "", fmt.Errorf("%w: encode request: %v", shared.ErrInvalidArgument, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/tasks", bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("%w: %v", shared.ErrInvalidArgument, err)
	}
	req.Header.Set("Content-Type", "application/json")
	var id string
	err = c.stream(req, func(t shared.Task) {
		if id == "" {
			id = t.ID
		}
		fn(t)
	})
	return id, err
}

// Get returns a task.
func (c *Client) Get(ctx context.Context, id string) (shared.Task, error) {
	var t shared.Task
	err := c.do(ctx, http.MethodGet, taskPath(id, ""), nil, nil, &t)
	return t, err
}

// Retry makes a pending task due now or re-queues a failed one.
func (c *Client) Retry(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, taskPath(id, "/retry"), nil, nil, nil)
}

// Cancel cancels a pending or processing task.
func (c *Client) Cancel(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, taskPath(id, "/cancel"), nil, nil, nil)
}

// Remove deletes a task.
func (c *Client) Remove(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, taskPath(id, ""), nil, nil, nil)
}

// List returns one page of tasks; pass the page's Cursor in q for the
// next one.
func (c *Client) List(ctx context.Context, q host.Query) (host.Page, error) {
	vals := url.Values{}
	set := func(k, v string) {
		if v != "" {
			vals.Set(k, v)
		}
	}
	set("type", q.Type)
	set("status", string(q.Status))
	set("sortBy", string(q.SortBy))
	set("cursor", q.Cursor)
	if q.Desc {
		vals.Set("order", "desc")
	}
	if q.Limit != 0 {
		vals.Set("limit", strconv.Itoa(q.Limit))
	}
	var resp ListResponse
	if err := c.do(ctx, http.MethodGet, "/v1/tasks", vals, nil, &resp); err != nil {
		return host.Page{}, err
	}
	return host.Page{Tasks: resp.Entities, Cursor: resp.Cursor}, nil
}

// Handlers describes the host's handlers and their workers.
func (c *Client) Handlers(ctx context.Context) ([]host.HandlerInfo, error) {
	var resp HandlersResponse
	err := c.do(ctx, http.MethodGet, "/v1/handlers", nil, nil, &resp)
	return resp.Handlers, err
}

// Schedules returns the trigger rules of each scheduled task, by id, with
// their next trigger and last run.
func (c *Client) Schedules(ctx context.Context) (map[string][]shared.ScheduledTaskTimeInfo, error) {
	var resp SchedulesResponse
	err := c.do(ctx, http.MethodGet, "/v1/schedules", nil, nil, &resp)
	return resp.Tasks, err
}

// Nodes lists the nodes sharing the host's store.
func (c *Client) Nodes(ctx context.Context) ([]host.Node, error) {
	var resp NodesResponse
	err := c.do(ctx, http.MethodGet, "/v1/nodes", nil, nil, &resp)
	return resp.Nodes, err
}

// Health returns nil if the host answers its health check.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil, nil, &HealthResponse{})
}

// Events calls fn with the task's current state and then with every
// change of it, until the host ends the stream (the task is terminal or
// removed), which returns nil, or ctx ends, which returns ctx.Err().
// fn runs on the caller's goroutine.
func (c *Client) Events(ctx context.Context, id string, fn func(shared.Task)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+taskPath(id, "/events"), nil)
	if err != nil {
		return fmt.Errorf("%w: %v", shared.ErrInvalidArgument, err)
	}
	return c.stream(req, fn)
}

// stream sends req asking for an event stream of task states and calls
// fn with each, until the stream ends.
func (c *Client) stream(req *http.Request, fn func(shared.Task)) error {
	ctx := req.Context()
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.send(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return fmt.Errorf("%s %s: answer is %q, not an event stream", req.Method, req.URL.Path, ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventSize)
	var data []byte
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0:
			// A blank line ends an event.
			if len(data) == 0 {
				continue
			}
			var t shared.Task
			if err := json.Unmarshal(data, &t); err != nil {
				return fmt.Errorf("%s %s: decode event: %w", req.Method, req.URL.Path, err)
			}
			data = data[:0]
			fn(t)
		case line[0] == ':':
			// A comment: keep-alive.
		default:
			field, value, _ := bytes.Cut(line, []byte(":"))
			if string(field) == "data" {
				value = bytes.TrimPrefix(value, []byte(" "))
				if len(data) > 0 {
					data = append(data, '\n')
				}
				data = append(data, value...)
			}
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s %s: read event stream: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

func taskPath(id, suffix string) string {
	return "/v1/tasks/" + url.PathEscape(id) + suffix
}

// do sends a request with body (if not nil) as JSON and decodes the
// answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%w: encode request: %v", shared.ErrInvalidArgument, err)
		}
		rd = bytes.NewReader(data)
	}
	target := c.base + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return fmt.Errorf("%w: %v", shared.ErrInvalidArgument, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.send(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// send sends req and returns the response if its status is a success;
// otherwise the server's error as an *Error.
func (c *Client) send(req *http.Request) (*http.Response, error) {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, ctxErr
		}
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return nil, fmt.Errorf("request to the host at %s failed: %w", c.base, err)
	}
	if resp.StatusCode < 300 {
		if c.warn != nil {
			for _, v := range resp.Header.Values("Warning") {
				c.warn(warningText(v))
			}
		}
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, readError(resp)
}

// readError turns an error answer into an *Error, also when it does not
// come from a taskhost (a proxy's HTML page, say).
func readError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body ErrorResponse
	if err := json.Unmarshal(data, &body); err == nil && body.Error != nil && body.Error.Name != "" {
		body.Error.Status = resp.StatusCode
		return body.Error
	}
	msg := strings.TrimSpace(string(data))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return &Error{
		Status:  resp.StatusCode,
		Name:    "HTTP" + strconv.Itoa(resp.StatusCode),
		Message: fmt.Sprintf("%s %s: %s", resp.Request.Method, resp.Request.URL.Path, msg),
	}
}

// warningText is the text of a Warning header value
// (`code agent "text"`), or the whole value when it has another form.
func warningText(v string) string {
	if i := strings.IndexByte(v, '"'); i >= 0 {
		if text, err := strconv.Unquote(v[i:]); err == nil {
			return text
		}
	}
	return v
}
