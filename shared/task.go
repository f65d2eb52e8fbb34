package shared

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Status is where a task is in its life. The five values are twin's
// TaskStatus.
type Status string

// The task statuses.
const (
	StatusPending    Status = "pending"
	StatusProcessing Status = "processing"
	StatusSuccess    Status = "success"
	StatusFailed     Status = "failed"
	StatusCancelled  Status = "cancelled"
)

// Statuses lists every status, in life-cycle order.
func Statuses() []Status {
	return []Status{StatusPending, StatusProcessing, StatusSuccess, StatusFailed, StatusCancelled}
}

// Valid reports whether s is one of the five statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusPending, StatusProcessing, StatusSuccess, StatusFailed, StatusCancelled:
		return true
	}
	return false
}

// Terminal reports whether a task in status s will never run again by itself.
func (s Status) Terminal() bool {
	return s == StatusSuccess || s == StatusFailed || s == StatusCancelled
}

// Task is a background task as stored and as shown through the API. Field
// names follow twin's IBackgroundTask; times are encoded as RFC 3339 with
// milliseconds in UTC.
type Task struct {
	// ID is a UUIDv7 as 32 lower-case hex digits.
	ID   string `json:"id"`
	Type string `json:"type"`
	// ThreadID names the node that created the task ("main" by default).
	ThreadID string `json:"threadId"`
	Status   Status `json:"status"`

	DateCreated     time.Time  `json:"dateCreated"`
	DateModified    time.Time  `json:"dateModified"`
	DateCompleted   *time.Time `json:"dateCompleted,omitempty"`
	DateCancelled   *time.Time `json:"dateCancelled,omitempty"`
	DateRetainUntil *time.Time `json:"dateRetainUntil,omitempty"`
	// DateNextProcess is when a pending task is due.
	DateNextProcess *time.Time `json:"dateNextProcess,omitempty"`

	// RetainFor is in milliseconds: 0 = remove when terminal, -1 = keep
	// forever, N = keep until DateModified + N.
	RetainFor *int64 `json:"retainFor,omitempty"`
	// RetryInterval is in milliseconds.
	RetryInterval    *int64 `json:"retryInterval,omitempty"`
	RetriesRemaining *int   `json:"retriesRemaining,omitempty"`
	// Attempts counts the attempts that have started (a run interrupted
	// by a crash or a stop counts too), 0 before the first.
	Attempts int `json:"attempts,omitempty"`

	Payload    json.RawMessage   `json:"payload,omitempty"`
	Result     json.RawMessage   `json:"result,omitempty"`
	Error      *TaskError        `json:"error,omitempty"`
	ContextIDs map[string]string `json:"contextIds,omitempty"`
	// Progress is the last progress the running method reported.
	Progress *Progress `json:"progress,omitempty"`
}

// Progress is what a running method last reported about itself.
type Progress struct {
	Percent float64 `json:"percent"`
	Message string  `json:"message,omitempty"`
}

// TimeFormat is how every task time is written: RFC 3339, milliseconds, UTC.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// msTime is a time.Time that encodes as TimeFormat in UTC.
type msTime time.Time

// MarshalText makes encoding/json write the time as a string; a
// MarshalJSON method would cost a validating pass over its output.
func (t msTime) MarshalText() ([]byte, error) {
	return time.Time(t).UTC().AppendFormat(make([]byte, 0, len(TimeFormat)), TimeFormat), nil
}

func (t *msTime) UnmarshalJSON(b []byte) error {
	// A time as this package writes it is a string without escapes:
	// read it without a JSON decoder (a page of tasks has hundreds).
	s, plain := bytes.CutPrefix(b, []byte{'"'})
	s, plain2 := bytes.CutSuffix(s, []byte{'"'})
	if !plain || !plain2 || bytes.ContainsAny(s, "\\\"") {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return fmt.Errorf("time must be an RFC 3339 string: %w", err)
		}
		s = []byte(str)
	}
	v, err := time.Parse(time.RFC3339Nano, string(s))
	if err != nil {
		return err
	}
	*t = msTime(v.UTC())
	return nil
}

// taskFields is Task without its methods, so it can be embedded below.
type taskFields Task

// taskWire is Task with its times as msTime: fields at depth 0 shadow the
// embedded ones of the same JSON name.
type taskWire struct {
	*taskFields
	DateCreated     msTime  `json:"dateCreated"`
	DateModified    msTime  `json:"dateModified"`
	DateCompleted   *msTime `json:"dateCompleted,omitempty"`
	DateCancelled   *msTime `json:"dateCancelled,omitempty"`
	DateRetainUntil *msTime `json:"dateRetainUntil,omitempty"`
	DateNextProcess *msTime `json:"dateNextProcess,omitempty"`
}

// MarshalJSON writes the task in the contract's shape.
func (t Task) MarshalJSON() ([]byte, error) {
	return json.Marshal(taskWire{
		taskFields:      (*taskFields)(&t),
		DateCreated:     msTime(t.DateCreated),
		DateModified:    msTime(t.DateModified),
		DateCompleted:   (*msTime)(t.DateCompleted),
		DateCancelled:   (*msTime)(t.DateCancelled),
		DateRetainUntil: (*msTime)(t.DateRetainUntil),
		DateNextProcess: (*msTime)(t.DateNextProcess),
	})
}

// UnmarshalJSON reads the contract's shape.
func (t *Task) UnmarshalJSON(b []byte) error {
	w := taskWire{taskFields: (*taskFields)(t)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	t.DateCreated = time.Time(w.DateCreated)
	t.DateModified = time.Time(w.DateModified)
	t.DateCompleted = (*time.Time)(w.DateCompleted)
	t.DateCancelled = (*time.Time)(w.DateCancelled)
	t.DateRetainUntil = (*time.Time)(w.DateRetainUntil)
	t.DateNextProcess = (*time.Time)(w.DateNextProcess)
	return nil
}

// ScheduledTaskTime is one trigger rule of a scheduled task (twin's
// IScheduledTaskTime). NextTriggerTime is milliseconds since the epoch in
// JSON. Without intervals and cron the rule fires once.
type ScheduledTaskTime struct {
	NextTriggerTime *time.Time
	IntervalDays    int
	IntervalHours   int
	IntervalMinutes int
	// Cron is an alternative to the intervals: a standard 5-field cron
	// expression ("0 3 * * *", in the host's time zone unless it starts
	// with CRON_TZ=) or a descriptor ("@daily", "@every 30s").
	Cron string
}

// Interval is the sum of the rule's intervals; zero means it fires once
// (or by Cron).
func (s ScheduledTaskTime) Interval() time.Duration {
	return time.Duration(s.IntervalDays)*24*time.Hour +
		time.Duration(s.IntervalHours)*time.Hour +
		time.Duration(s.IntervalMinutes)*time.Minute
}

// MarshalJSON writes NextTriggerTime as milliseconds since the epoch.
func (s ScheduledTaskTime) MarshalJSON() ([]byte, error) {
	return json.Marshal(toScheduleWire(s, nil))
}

// UnmarshalJSON reads NextTriggerTime as milliseconds since the epoch.
func (s *ScheduledTaskTime) UnmarshalJSON(b []byte) error {
	var w scheduleWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*s, _ = w.times()
	return nil
}

// ScheduledTaskTimeInfo is a trigger rule as a scheduler reports it:
// NextTriggerTime is when it fires next (nil when it never will again)
// and LastRunTime the trigger time of its last run (nil before the first).
type ScheduledTaskTimeInfo struct {
	ScheduledTaskTime
	LastRunTime *time.Time
}

// MarshalJSON writes both times as milliseconds since the epoch.
func (s ScheduledTaskTimeInfo) MarshalJSON() ([]byte, error) {
	return json.Marshal(toScheduleWire(s.ScheduledTaskTime, s.LastRunTime))
}

// UnmarshalJSON reads both times as milliseconds since the epoch.
func (s *ScheduledTaskTimeInfo) UnmarshalJSON(b []byte) error {
	var w scheduleWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	s.ScheduledTaskTime, s.LastRunTime = w.times()
	return nil
}

// ScheduledTasksInfo is what a scheduler reports (GET /v1/schedules):
// twin's IScheduledTaskInfo, the rules of each scheduled task by id, with
// each rule's last run.
type ScheduledTasksInfo struct {
	Tasks map[string][]ScheduledTaskTimeInfo `json:"tasks"`
}

// scheduleWire is the JSON of ScheduledTaskTime and ScheduledTaskTimeInfo.
type scheduleWire struct {
	NextTriggerTime *int64 `json:"nextTriggerTime,omitempty"`
	IntervalDays    int    `json:"intervalDays,omitempty"`
	IntervalHours   int    `json:"intervalHours,omitempty"`
	IntervalMinutes int    `json:"intervalMinutes,omitempty"`
	Cron            string `json:"cron,omitempty"`
	LastRunTime     *int64 `json:"lastRunTime,omitempty"`
}

func toScheduleWire(s ScheduledTaskTime, lastRun *time.Time) scheduleWire {
	return scheduleWire{
		NextTriggerTime: unixMilli(s.NextTriggerTime),
		IntervalDays:    s.IntervalDays,
		IntervalHours:   s.IntervalHours,
		IntervalMinutes: s.IntervalMinutes,
		Cron:            s.Cron,
		LastRunTime:     unixMilli(lastRun),
	}
}

func (w *scheduleWire) times() (ScheduledTaskTime, *time.Time) {
	return ScheduledTaskTime{
		NextTriggerTime: fromUnixMilli(w.NextTriggerTime),
		IntervalDays:    w.IntervalDays,
		IntervalHours:   w.IntervalHours,
		IntervalMinutes: w.IntervalMinutes,
		Cron:            w.Cron,
	}, fromUnixMilli(w.LastRunTime)
}

func unixMilli(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	ms := t.UnixMilli()
	return &ms
}

func fromUnixMilli(ms *int64) *time.Time {
	if ms == nil {
		return nil
	}
	t := time.UnixMilli(*ms).UTC()
	return &t
}
