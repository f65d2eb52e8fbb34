package host

import (
	"fmt"
	"strings"

	"github.com/taskhost/taskhost/shared"
)

// maxNameLen bounds task type names and node ids.
const maxNameLen = 128

// validateName checks a task type or node id: 1 to 128 characters of
// letters, digits and . _ : -, starting with a letter or digit.
func validateName(what, s string) error {
	if s == "" {
		return fmt.Errorf("%w: %s is empty: want 1 to %d letters, digits or . _ : -", shared.ErrInvalidArgument, what, maxNameLen)
	}
	if len(s) > maxNameLen {
		return fmt.Errorf("%w: %s is %d characters long: want at most %d", shared.ErrInvalidArgument, what, len(s), maxNameLen)
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			i > 0 && strings.ContainsRune("._:-", r)
		if !ok {
			return fmt.Errorf("%w: %s %q: character %q at %d is not allowed: want letters, digits or . _ : - (not first)",
				shared.ErrInvalidArgument, what, s, r, i)
		}
	}
	return nil
}

// ValidateTaskType checks a task type name as Create and RegisterHandler
// do, so that a caller can refuse a bad one early (a config file at load).
func ValidateTaskType(typ string) error {
	return validateName("task type", typ)
}

// ValidateNodeID checks a node id as [New] does.
func ValidateNodeID(id string) error {
	return validateName("node id", id)
}
