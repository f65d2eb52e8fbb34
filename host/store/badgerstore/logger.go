package badgerstore

import (
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/go-hclog"
)

// badgerLogger passes Badger's warnings and errors to an hclog.Logger and
// drops its info and debug lines, which report routine compactions.
type badgerLogger struct {
	log hclog.Logger
}

var _ badger.Logger = badgerLogger{}

func (l badgerLogger) Errorf(format string, args ...any) {
	l.log.Error(strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (l badgerLogger) Warningf(format string, args ...any) {
	l.log.Warn(strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (badgerLogger) Infof(string, ...any) {}

func (badgerLogger) Debugf(string, ...any) {}
