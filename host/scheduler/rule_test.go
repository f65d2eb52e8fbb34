package scheduler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskhost/taskhost/shared"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestRuleAfter(t *testing.T) {
	t.Parallel()
	utc := "CRON_TZ=UTC "
	for _, tc := range []struct {
		name     string
		time     shared.ScheduledTaskTime
		due, now string
		want     string // "" for none
	}{
		{"interval on time", shared.ScheduledTaskTime{IntervalMinutes: 5}, "2030-01-01T10:00:00Z", "2030-01-01T10:00:00.004Z", "2030-01-01T10:05:00Z"},
		{"interval, all units", shared.ScheduledTaskTime{IntervalDays: 1, IntervalHours: 2, IntervalMinutes: 3}, "2030-01-01T10:00:00Z", "2030-01-01T10:00:01Z", "2030-01-02T12:03:00Z"},
		{"interval late: next after now, on the series", shared.ScheduledTaskTime{IntervalMinutes: 5}, "2030-01-01T10:00:00Z", "2030-01-01T10:17:00Z", "2030-01-01T10:20:00Z"},
		{"interval late by exactly a period", shared.ScheduledTaskTime{IntervalMinutes: 5}, "2030-01-01T10:00:00Z", "2030-01-01T10:10:00Z", "2030-01-01T10:15:00Z"},
		{"interval, days late", shared.ScheduledTaskTime{IntervalDays: 1}, "2030-01-01T03:00:00Z", "2030-01-09T15:00:00Z", "2030-01-10T03:00:00Z"},
		{"one-shot", shared.ScheduledTaskTime{NextTriggerTime: new(time.Time)}, "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z", ""},
		{"every on time", shared.ScheduledTaskTime{Cron: "@every 1s"}, "2030-01-01T10:00:00Z", "2030-01-01T10:00:00.002Z", "2030-01-01T10:00:01Z"},
		{"every late: on its series", shared.ScheduledTaskTime{Cron: "@every 30s"}, "2030-01-01T10:00:00Z", "2030-01-01T10:01:10Z", "2030-01-01T10:01:30Z"},
		{"every from a given time with ms", shared.ScheduledTaskTime{Cron: "@every 10s"}, "2030-01-01T10:00:00.250Z", "2030-01-01T10:00:00.300Z", "2030-01-01T10:00:10.250Z"},
		{"cron on time", shared.ScheduledTaskTime{Cron: utc + "0 3 * * *"}, "2030-01-01T03:00:00Z", "2030-01-01T03:00:00.010Z", "2030-01-02T03:00:00Z"},
		{"cron late: first after now", shared.ScheduledTaskTime{Cron: utc + "0 3 * * *"}, "2030-01-01T03:00:00Z", "2030-01-05T12:00:00Z", "2030-01-06T03:00:00Z"},
		{"cron descriptor", shared.ScheduledTaskTime{Cron: utc + "@hourly"}, "2030-01-01T03:00:00Z", "2030-01-01T03:00:01Z", "2030-01-01T04:00:00Z"},
		{"cron from an off-series time", shared.ScheduledTaskTime{Cron: utc + "*/15 * * * *"}, "2030-01-01T03:07:00Z", "2030-01-01T03:07:00Z", "2030-01-01T03:15:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := parseRule(tc.time, at(tc.now))
			require.NoError(t, err)
			got := r.after(at(tc.due), at(tc.now))
			if tc.want == "" {
				require.Nil(t, got)
				return
			}
			require.NotNil(t, got)
			require.Equal(t, at(tc.want), *got)
			require.True(t, got.After(at(tc.now)), "strictly after now")
		})
	}
}

func TestRuleFirst(t *testing.T) {
	t.Parallel()
	now := at("2030-01-01T10:00:00.123Z")
	given := at("2029-06-01T00:00:00Z")
	for _, tc := range []struct {
		name string
		time shared.ScheduledTaskTime
		want time.Time
	}{
		{"given time, even past", shared.ScheduledTaskTime{NextTriggerTime: &given, IntervalHours: 1}, given},
		{"now + intervals", shared.ScheduledTaskTime{IntervalHours: 1, IntervalMinutes: 30}, at("2030-01-01T11:30:00.123Z")},
		{"every: now + the delay", shared.ScheduledTaskTime{Cron: "@every 1s"}, at("2030-01-01T10:00:01.123Z")},
		{"cron: first after now", shared.ScheduledTaskTime{Cron: "CRON_TZ=UTC 30 10 * * *"}, at("2030-01-01T10:30:00Z")},
		{"cron with a given time", shared.ScheduledTaskTime{NextTriggerTime: &given, Cron: "@daily"}, given},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := parseRule(tc.time, now)
			require.NoError(t, err)
			got := r.first(tc.time, now)
			require.NotNil(t, got)
			require.Equal(t, tc.want, *got)
		})
	}
}

func TestCronInHostTimeZone(t *testing.T) {
	t.Parallel()
	r, err := parseRule(shared.ScheduledTaskTime{Cron: "0 3 * * *"}, time.Now())
	require.NoError(t, err)
	next := r.first(shared.ScheduledTaskTime{Cron: "0 3 * * *"}, time.Now())
	require.NotNil(t, next)
	local := next.Local()
	require.Equal(t, []int{3, 0, 0}, []int{local.Hour(), local.Minute(), local.Second()})
	require.Equal(t, time.UTC, next.Location(), "kept in UTC")
}

func TestParseRuleInvalid(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for _, tc := range []struct {
		time shared.ScheduledTaskTime
		msg  string
	}{
		{shared.ScheduledTaskTime{}, "a time has no trigger: give nextTriggerTime, an interval or cron"},
		{shared.ScheduledTaskTime{Cron: "@daily", IntervalMinutes: 5}, `a time has cron "@daily" and intervals: give one or the other`},
		{shared.ScheduledTaskTime{Cron: "61 * * * *"}, `cron "61 * * * *": `},
		{shared.ScheduledTaskTime{Cron: "* * * *"}, "want 5 fields"},
		{shared.ScheduledTaskTime{Cron: "0 0 0 * * *"}, "want 5 fields"},
		{shared.ScheduledTaskTime{Cron: "@sometimes"}, "unrecognized descriptor"},
		{shared.ScheduledTaskTime{Cron: "@every soon"}, `invalid duration "soon"`},
		{shared.ScheduledTaskTime{Cron: "@every 500ms"}, "want a whole number of seconds, at least 1s"},
		{shared.ScheduledTaskTime{Cron: "@every 1500ms"}, "want a whole number of seconds, at least 1s"},
		{shared.ScheduledTaskTime{Cron: "@every -5s"}, "want a whole number of seconds, at least 1s"},
		{shared.ScheduledTaskTime{Cron: "0 0 30 2 *"}, "it never fires"},
		{shared.ScheduledTaskTime{Cron: "CRON_TZ=Mars/Olympus 0 3 * * *"}, "Mars/Olympus"},
		{shared.ScheduledTaskTime{IntervalMinutes: -1}, "intervals must not be negative"},
		{shared.ScheduledTaskTime{IntervalDays: 1, IntervalHours: -1}, "intervals must not be negative"},
		{shared.ScheduledTaskTime{IntervalDays: 200_000}, "more than 292 years"},
		{shared.ScheduledTaskTime{IntervalMinutes: 1 << 62}, "more than 292 years"},
	} {
		_, err := parseRule(tc.time, now)
		require.ErrorIs(t, err, shared.ErrInvalidArgument, "%+v", tc.time)
		require.ErrorContains(t, err, tc.msg)
	}
	require.NoError(t, ValidateCron("@every 1m30s"))
	require.NoError(t, ValidateCron("CRON_TZ=Europe/Berlin 0 3 * * 1-5"))
	require.ErrorIs(t, ValidateCron("nope"), shared.ErrInvalidArgument)
}
