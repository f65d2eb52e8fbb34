package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/taskhost/taskhost/shared"
)

// readBody reads the whole request body, at most limit bytes; a larger
// body is shared.ErrPayloadTooLarge.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if tooBig, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return nil, fmt.Errorf("%w: request body is larger than %d bytes", shared.ErrPayloadTooLarge, tooBig.Limit)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: read request body: %v", shared.ErrInvalidArgument, err)
	}
	return data, nil
}

// decodeStrict decodes data, which must hold exactly one JSON object, into
// v (a pointer to a struct). Unknown fields, wrong types and trailing data
// are shared.ErrInvalidArgument errors that say where and what was
// expected; path prefixes field names ("tasks[2]." for a batch element).
func decodeStrict(data []byte, v any, path string) error {
	what := "request body"
	if path != "" {
		what = strings.TrimSuffix(path, ".")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("%w: %s is empty: want a JSON object", shared.ErrInvalidArgument, what)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %s", shared.ErrInvalidArgument, describeJSONError(err, data, v, what, path))
	}
	rest := data[dec.InputOffset():]
	if trailing := bytes.TrimLeft(rest, " \t\r\n"); len(trailing) > 0 {
		at := len(data) - len(trailing)
		return fmt.Errorf("%w: %s: unexpected data after the JSON object at byte %d: want exactly one JSON object",
			shared.ErrInvalidArgument, what, at)
	}
	return nil
}

func describeJSONError(err error, data []byte, v any, what, path string) string {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Sprintf("%s is malformed JSON at byte %d: %v", what, se.Offset, se)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Sprintf("%s is malformed JSON: it ends early at byte %d", what, len(data))
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if te.Field == "" {
			return fmt.Sprintf("%s is a JSON %s: want %s", what, te.Value, jsonKind(te.Type))
		}
		return fmt.Sprintf("field %s%s is a JSON %s at byte %d: want %s", path, te.Field, te.Value, te.Offset, jsonKind(te.Type))
	}
	// encoding/json has no type for this one.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fmt.Sprintf("unknown field %s%s: want one of %s", path, strings.Trim(name, `"`), strings.Join(jsonFields(v), ", "))
	}
	return fmt.Sprintf("%s: %v", what, err)
}

// jsonKind says in JSON's words what a Go type decodes from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Map:
		return "object of " + jsonKind(t.Elem()) + " values"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "object"
}

// jsonFields lists the JSON field names of the struct v points to.
func jsonFields(v any) []string {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var names []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "-" && f.IsExported() {
			if name == "" {
				name = f.Name
			}
			names = append(names, name)
		}
	}
	return names
}

// checkDuplicateKeys refuses JSON in which an object holds a key twice,
// naming it by its path ("payload.size", "tasks[2].type"): encoding/json
// would keep the last one silently, so the body would not mean what it
// says. data must be valid JSON (decodeStrict checked it): this is a scan
// of its bytes, about as fast as decoding it, not a second parse.
func checkDuplicateKeys(data []byte) error {
	type level struct {
		object bool
		key    []byte // object: the key of the value being read
		index  int    // array: the index of the value being read
		first  int    // object: where its keys start in keys
		set    map[string]struct{}
	}
	// Objects are small: their keys are compared in a list, and only a
	// large object gets a set.
	const listMax = 16
	var (
		stack     []level
		keys      [][]byte
		expectKey bool
	)
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '{':
			stack = append(stack, level{object: true, first: len(keys)})
			expectKey = true
		case '[':
			stack = append(stack, level{})
		case '}', ']':
			top := stack[len(stack)-1]
			if top.object {
				keys = keys[:top.first]
			}
			stack = stack[:len(stack)-1]
			expectKey = false
		case ',':
			if top := &stack[len(stack)-1]; top.object {
				expectKey = true
			} else {
				top.index++
			}
		case '"':
			end := i + 1
			for data[end] != '"' {
				if data[end] == '\\' {
					end++
				}
				end++
			}
			if expectKey {
				key := data[i+1 : end]
				if bytes.IndexByte(key, '\\') >= 0 {
					var k string
					if err := json.Unmarshal(data[i:end+1], &k); err != nil {
						return fmt.Errorf("%w: request body: %v", shared.ErrInvalidArgument, err)
					}
					key = []byte(k)
				}
				top := &stack[len(stack)-1]
				dup := false
				switch {
				case top.set != nil:
					_, dup = top.set[string(key)]
					top.set[string(key)] = struct{}{}
				case len(keys)-top.first < listMax:
					for _, k := range keys[top.first:] {
						if bytes.Equal(k, key) {
							dup = true
							break
						}
					}
				default:
					top.set = make(map[string]struct{}, 2*listMax)
					for _, k := range keys[top.first:] {
						top.set[string(k)] = struct{}{}
					}
					_, dup = top.set[string(key)]
					top.set[string(key)] = struct{}{}
				}
				if dup {
					var path strings.Builder
					for _, l := range stack[:len(stack)-1] {
						if l.object {
							if path.Len() > 0 {
								path.WriteByte('.')
							}
							path.Write(l.key)
						} else {
							fmt.Fprintf(&path, "[%d]", l.index)
						}
					}
					if path.Len() > 0 {
						path.WriteByte('.')
					}
					path.Write(key)
					return fmt.Errorf("%w: field %s appears twice in the request body: want each key at most once in an object",
						shared.ErrInvalidArgument, path.String())
				}
				keys = append(keys, key)
				top.key = key
				expectKey = false
			}
			i = end
		}
	}
	return nil
}
