package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/taskhost/taskhost/host"
	"github.com/taskhost/taskhost/host/scheduler"
	"github.com/taskhost/taskhost/shared"
)

// scheduleFile is a schedule block of the config file:
//
//	schedule "daily-sync" {
//	  interval_days = 1   # or interval_hours, interval_minutes, cron, next_trigger_time
//	  task {
//	    type        = "catalogue-import"
//	    payload     = { source = "tenant-a" }
//	    retry_count = 2
//	    retain_for  = "24h"
//	  }
//	}
type scheduleFile struct {
	ID                   string           `hcl:"id,label"`
	IDRange              hcl.Range        `hcl:"id,label_range"`
	DefRange             hcl.Range        `hcl:",def_range"`
	IntervalDays         *int             `hcl:"interval_days,optional"`
	IntervalDaysRange    hcl.Range        `hcl:"interval_days,attr_value_range"`
	IntervalHours        *int             `hcl:"interval_hours,optional"`
	IntervalHoursRange   hcl.Range        `hcl:"interval_hours,attr_value_range"`
	IntervalMinutes      *int             `hcl:"interval_minutes,optional"`
	IntervalMinutesRange hcl.Range        `hcl:"interval_minutes,attr_value_range"`
	Cron                 *string          `hcl:"cron,optional"`
	CronRange            hcl.Range        `hcl:"cron,attr_value_range"`
	NextTriggerTime      *string          `hcl:"next_trigger_time,optional"`
	NextTriggerTimeRange hcl.Range        `hcl:"next_trigger_time,attr_value_range"`
	Task                 scheduleTaskFile `hcl:"task,block"`
}

type scheduleTaskFile struct {
	Type               string         `hcl:"type"`
	TypeRange          hcl.Range      `hcl:"type,attr_value_range"`
	Payload            hcl.Expression `hcl:"payload,optional"`
	RetryCount         *int           `hcl:"retry_count,optional"`
	RetryCountRange    hcl.Range      `hcl:"retry_count,attr_value_range"`
	RetryInterval      *string        `hcl:"retry_interval,optional"`
	RetryIntervalRange hcl.Range      `hcl:"retry_interval,attr_value_range"`
	RetainFor          *string        `hcl:"retain_for,optional"`
	RetainForRange     hcl.Range      `hcl:"retain_for,attr_value_range"`
}

// toSchedule checks the block as the scheduler and the engine would,
// so that a mistake is refused at load with its place in the file.
func (sf *scheduleFile) toSchedule() (ScheduleConfig, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	bad := func(rng hcl.Range, summary, format string, args ...any) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  summary,
			Detail:   fmt.Sprintf("schedule %q: ", sf.ID) + fmt.Sprintf(format, args...),
			Subject:  rng.Ptr(),
		})
	}
	sc := ScheduleConfig{ID: sf.ID, DefRange: sf.DefRange}
	if err := scheduler.ValidateID(sf.ID); err != nil {
		bad(sf.IDRange, "Invalid schedule id", "%s", detail(err))
	}

	intervals := false
	for _, iv := range []struct {
		name string
		val  *int
		rng  hcl.Range
		dst  *int
	}{
		{"interval_days", sf.IntervalDays, sf.IntervalDaysRange, &sc.Time.IntervalDays},
		{"interval_hours", sf.IntervalHours, sf.IntervalHoursRange, &sc.Time.IntervalHours},
		{"interval_minutes", sf.IntervalMinutes, sf.IntervalMinutesRange, &sc.Time.IntervalMinutes},
	} {
		if iv.val == nil {
			continue
		}
		intervals = true
		if *iv.val < 1 {
			bad(iv.rng, "Invalid "+iv.name, "%d: want at least 1 (leave it out for none)", *iv.val)
		}
		*iv.dst = *iv.val
	}
	if sf.Cron != nil {
		switch err := scheduler.ValidateCron(*sf.Cron); {
		case intervals:
			bad(sf.CronRange, "Invalid cron", "give cron or interval_days/interval_hours/interval_minutes, not both")
		case err != nil:
			bad(sf.CronRange, "Invalid cron", "%s", detail(err))
		}
		sc.Time.Cron = *sf.Cron
	}
	if sf.NextTriggerTime != nil {
		at, err := time.Parse(time.RFC3339, *sf.NextTriggerTime)
		if err != nil {
			bad(sf.NextTriggerTimeRange, "Invalid next_trigger_time", "%q: want an RFC 3339 time, like \"2030-01-02T03:04:05Z\"", *sf.NextTriggerTime)
		}
		at = at.UTC().Truncate(time.Millisecond)
		sc.Time.NextTriggerTime = &at
	}
	if !intervals && sf.Cron == nil && sf.NextTriggerTime == nil {
		bad(sf.DefRange, "Schedule without trigger", "give interval_days, interval_hours, interval_minutes, cron or next_trigger_time")
	}

	task, tdiags := sf.Task.toTask(sf.ID)
	sc.Task = task
	return sc, append(diags, tdiags...)
}

func (tf *scheduleTaskFile) toTask(id string) (host.NewTask, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	bad := func(rng hcl.Range, summary, format string, args ...any) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  summary,
			Detail:   fmt.Sprintf("schedule %q: task: ", id) + fmt.Sprintf(format, args...),
			Subject:  rng.Ptr(),
		})
	}
	nt := host.NewTask{Type: tf.Type}
	if err := host.ValidateTaskType(tf.Type); err != nil {
		bad(tf.TypeRange, "Invalid task type", "%s", detail(err))
	}
	if tf.Payload != nil {
		val, vdiags := tf.Payload.Value(nil)
		diags = append(diags, vdiags...)
		if !vdiags.HasErrors() && !val.IsNull() {
			data, err := ctyjson.Marshal(val, val.Type())
			if err != nil {
				bad(tf.Payload.Range(), "Invalid payload", "%v", err)
			}
			nt.Payload = data
		}
	}
	if tf.RetryCount != nil {
		if *tf.RetryCount < 0 {
			bad(tf.RetryCountRange, "Invalid retry_count", "%d: want 0 or more", *tf.RetryCount)
		}
		nt.Options.RetryCount = *tf.RetryCount
	}
	if tf.RetryInterval != nil {
		d, err := parsePositiveDuration(*tf.RetryInterval)
		if err != nil {
			bad(tf.RetryIntervalRange, "Invalid retry_interval", "%q: %v", *tf.RetryInterval, err)
		}
		nt.Options.RetryInterval = d
	}
	if tf.RetainFor != nil {
		var f retainFlag
		if err := f.Set(*tf.RetainFor); err != nil {
			bad(tf.RetainForRange, "Invalid retain_for", "%q: %v", *tf.RetainFor, err)
		}
		nt.Options.RetainFor = time.Duration(f)
	}
	return nt, diags
}

// detail is an invalid-argument error's message without its sentinel's.
func detail(err error) string {
	return strings.TrimPrefix(err.Error(), shared.ErrInvalidArgument.Error()+": ")
}
