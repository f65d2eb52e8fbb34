package pgstore

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

const mask = "xxxxx"

// keywordPassword matches a password in the keyword/value form of a
// connection string ("host=db password=s3cret"), quoted or not.
var keywordPassword = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)`)

// RedactURL returns the connection string url with its password (in the
// user info, a password parameter or a password keyword) replaced by
// xxxxx, for messages and logs. A string it cannot parse as a URL is
// masked on a best-effort basis.
func RedactURL(connString string) string {
	if u, err := url.Parse(connString); err == nil && u.Scheme != "" {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), mask)
		}
		q := u.Query()
		for k := range q {
			if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
				q.Set(k, mask)
			}
		}
		u.RawQuery = q.Encode()
		return strings.Replace(u.String(), ":"+url.QueryEscape(mask)+"@", ":"+mask+"@", 1)
	}
	s := keywordPassword.ReplaceAllString(connString, "${1}"+mask)
	// A URL too broken to parse: whatever sits between "user:" and "@".
	if i := strings.Index(s, "://"); i >= 0 {
		rest := s[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if colon := strings.Index(rest[:at], ":"); colon >= 0 {
				s = s[:i+3] + rest[:colon+1] + mask + rest[at:]
			}
		}
	}
	return s
}

// secrets are the passwords in connString, as far as it can be parsed.
func secrets(connString string) []string {
	var out []string
	if cfg, err := pgconn.ParseConfig(connString); err == nil && cfg.Password != "" {
		out = append(out, cfg.Password)
	}
	if u, err := url.Parse(connString); err == nil {
		if p, ok := u.User.Password(); ok && p != "" {
			out = append(out, p, url.QueryEscape(p))
		}
	}
	return out
}

// redactedError is err with the passwords of a connection string masked
// in its message; errors.Is and As still see err.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// RedactError returns err with every password of connString masked in
// its message, and its whitespace flattened to single spaces: one line.
// errors.Is and errors.As still see err.
func RedactError(err error, connString string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, p := range secrets(connString) {
		msg = strings.ReplaceAll(msg, p, mask)
	}
	msg = strings.Join(strings.Fields(msg), " ")
	return &redactedError{msg: msg, err: err}
}
