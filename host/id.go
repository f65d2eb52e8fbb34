package host

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/taskhost/taskhost/shared"
)

// urnPrefix starts twin's URN form of a task id: background-task:<ns>:<id>.
const urnPrefix = "background-task:"

// newID returns a UUIDv7 as 32 lower-case hex digits: ids sort by
// creation time.
func newID() (string, error) {
	u, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("new task id: %w", err)
	}
	return hex.EncodeToString(u[:]), nil
}

// parseID accepts a task id as 32 hex digits or in twin's URN form and
// returns the bare lower-case id. Anything else cannot name a task, so it
// is reported as not found.
func parseID(s string) (string, error) {
	id := s
	if strings.HasPrefix(s, urnPrefix) {
		id = s[strings.LastIndexByte(s, ':')+1:]
	}
	id = strings.ToLower(id)
	if len(id) != 32 {
		return "", fmt.Errorf("%w: no task %q: an id is 32 hex digits or background-task:<ns>:<id>", shared.ErrNotFound, s)
	}
	if _, err := hex.DecodeString(id); err != nil {
		return "", fmt.Errorf("%w: no task %q: an id is 32 hex digits or background-task:<ns>:<id>", shared.ErrNotFound, s)
	}
	return id, nil
}
