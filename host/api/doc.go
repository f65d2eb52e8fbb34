// Package api is the task host's HTTP/JSON API: [Server] serves an [Engine]
// (a *host.Host) over HTTP, and [Client] is its Go client, which the
// taskhost CLI uses.
//
// # Routes
//
//	POST   /v1/tasks              {"type","payload","retryCount","retryInterval","retainFor","contextIds"} → 201 {"id"}
//	POST   /v1/tasks/batch        {"tasks":[{...}]} → 201 {"ids":[...]}, all or none
//	GET    /v1/tasks/{id}         → 200 task
//	GET    /v1/tasks?type=&status=&sortBy=&order=&cursor=&limit= → 200 {"entities":[...],"cursor"}
//	POST   /v1/tasks/{id}/retry   → 204
//	POST   /v1/tasks/{id}/cancel  → 204
//	DELETE /v1/tasks/{id}         → 204
//	GET    /v1/tasks/{id}/events  → Server-Sent Events, one "data: <task>" per change
//	GET    /v1/handlers           → 200 {"handlers":[...]}
//	GET    /v1/schedules          → 200 {"tasks":{"<id>":[{"nextTriggerTime","intervalDays","intervalHours","intervalMinutes","cron","lastRunTime"}]}}
//	GET    /v1/events             → Server-Sent Events, one "data: <host.Change>" per change of any task (a resync first)
//	GET    /v1/counts             → 200 {"counts":{"<type>":{"<status>":n}},"asOf","tookMs"}, when ServerOptions.Counts is set
//	GET    /v1/activity           → 200 host.Activity: the last 15 minutes, a sample a second
//	GET    /healthz               → 200 {"status":"ok"}
//	GET    /metrics               → 200 Prometheus text (host/metrics), when ServerOptions.Metrics is set
//	GET    /ui/…                  → the dashboard (host/ui), when ServerOptions.UI is set; / redirects there
//
// retryInterval and retainFor are milliseconds. retainFor -1 keeps a
// finished task forever, 0 (or absent) removes it as soon as it is
// terminal; retryInterval 0 (or absent) means the host's default. In
// schedules, nextTriggerTime and lastRunTime are milliseconds since the
// epoch, and absent fields are left out.
//
// # Errors
//
// Every error is {"error":{"name","message"}} with the status its shared
// sentinel maps to: InvalidArgument 400, NotFound 404, MethodNotAllowed
// 405, InvalidState 409, PayloadTooLarge 413, Unavailable 503, Internal
// 500. A client's mistake never gets a 500. On the client side [Error]
// keeps the name and message and wraps the same sentinel, so errors.Is
// works across the wire.
//
// The package knows the engine only through [Engine]; it knows nothing
// about stores, plugins or processes.
package api
