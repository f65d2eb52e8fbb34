package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/taskhost/taskhost/shared"
)

// Error names of the API, as sent in {"error":{"name"}}.
const (
	ErrorNameInvalidArgument      = "InvalidArgument"
	ErrorNameNotFound             = "NotFound"
	ErrorNameMethodNotAllowed     = "MethodNotAllowed"
	ErrorNameInvalidState         = "InvalidState"
	ErrorNamePayloadTooLarge      = "PayloadTooLarge"
	ErrorNameUnavailable          = "Unavailable"
	ErrorNameUnauthorized         = "Unauthorized"
	ErrorNameNoHandler            = "NoHandler"
	ErrorNameForbidden            = "Forbidden"
	ErrorNameUnsupportedMediaType = "UnsupportedMediaType"
	ErrorNameInternal             = "Internal"
)

// ErrUnauthorized is what a client gets (wrapped) when its token is
// missing or wrong.
var ErrUnauthorized = errors.New("unauthorized")

// Error is an error answer of the API: the server's {"error":{...}} with
// the HTTP status. It wraps the shared sentinel its name stands for
// (NotFound wraps shared.ErrNotFound, and so on), so errors.Is works on
// the client side as it does against a local host.
type Error struct {
	Status  int    `json:"-"`
	Name    string `json:"name"`
	Message string `json:"message"`
}

// Error is the message and, in brackets, the status and name, on one line.
func (e *Error) Error() string {
	msg := strings.Join(strings.Fields(e.Message), " ")
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("%s (%d %s)", msg, e.Status, e.Name)
}

// Unwrap returns the shared sentinel of e's name, or nil.
func (e *Error) Unwrap() error {
	switch e.Name {
	case ErrorNameInvalidArgument:
		return shared.ErrInvalidArgument
	case ErrorNameNotFound:
		return shared.ErrNotFound
	case ErrorNameInvalidState:
		return shared.ErrInvalidState
	case ErrorNamePayloadTooLarge:
		return shared.ErrPayloadTooLarge
	case ErrorNameUnavailable:
		return shared.ErrClosed
	case ErrorNameUnauthorized:
		return ErrUnauthorized
	case ErrorNameNoHandler:
		return shared.ErrNoHandler
	}
	return nil
}

// errorOf maps err to the answer the server gives: the sentinel it wraps
// picks the status and name, anything else is a 500 Internal.
func errorOf(err error) *Error {
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	status, name := http.StatusInternalServerError, ErrorNameInternal
	switch {
	case errors.Is(err, shared.ErrInvalidArgument):
		status, name = http.StatusBadRequest, ErrorNameInvalidArgument
	case errors.Is(err, shared.ErrNotFound):
		status, name = http.StatusNotFound, ErrorNameNotFound
	case errors.Is(err, shared.ErrInvalidState):
		status, name = http.StatusConflict, ErrorNameInvalidState
	case errors.Is(err, shared.ErrPayloadTooLarge):
		status, name = http.StatusRequestEntityTooLarge, ErrorNamePayloadTooLarge
	case errors.Is(err, shared.ErrClosed):
		status, name = http.StatusServiceUnavailable, ErrorNameUnavailable
	case errors.Is(err, shared.ErrNoHandler):
		status, name = http.StatusUnprocessableEntity, ErrorNameNoHandler
	}
	return &Error{Status: status, Name: name, Message: err.Error()}
}
