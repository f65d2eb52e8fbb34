package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of one catalogue row.
const (
	maxSKULen  = 64
	maxNameLen = 200
)

// priceRE is a non-negative amount with at most two decimals; 13 whole
// digits keep the amount in cents within an int64.
var priceRE = regexp.MustCompile(`^[0-9]{1,13}(\.[0-9]{1,2})?$`)

// product is one valid row of a catalogue file.
type product struct {
	line       int // in the file, for messages
	sku        string
	name       string
	priceCents int64
	quantity   int64
}

// header says in which field of a record each column is.
type header struct {
	fields                     int
	sku, name, price, quantity int
}

// parseHeader reads the first record of a catalogue file: the columns
// sku, name, price and quantity in any order, any case, with any other
// columns ignored.
func parseHeader(rec []string) (header, error) {
	h := header{fields: len(rec), sku: -1, name: -1, price: -1, quantity: -1}
	for i, col := range rec {
		if i == 0 {
			col = strings.TrimPrefix(col, "\ufeff") // a byte-order mark from a spreadsheet
		}
		var at *int
		switch strings.ToLower(strings.TrimSpace(col)) {
		case "sku":
			at = &h.sku
		case "name":
			at = &h.name
		case "price":
			at = &h.price
		case "quantity":
			at = &h.quantity
		default:
			continue
		}
		if *at >= 0 {
			return header{}, fmt.Errorf("header names column %q twice", strings.TrimSpace(col))
		}
		*at = i
	}
	var missing []string
	for _, c := range []struct {
		name string
		at   int
	}{{"sku", h.sku}, {"name", h.name}, {"price", h.price}, {"quantity", h.quantity}} {
		if c.at < 0 {
			missing = append(missing, c.name)
		}
	}
	if len(missing) > 0 {
		return header{}, fmt.Errorf("header %q lacks column(s) %s; want sku,name,price,quantity", strings.Join(rec, ","), strings.Join(missing, ","))
	}
	return h, nil
}

// parse checks one record; the error says why the row is skipped.
func (h header) parse(line int, rec []string) (product, error) {
	if len(rec) != h.fields {
		return product{}, fmt.Errorf("has %d fields, the header %d", len(rec), h.fields)
	}
	p := product{
		line: line,
		sku:  strings.TrimSpace(rec[h.sku]),
		name: strings.TrimSpace(rec[h.name]),
	}
	switch {
	case p.sku == "":
		return product{}, errors.New("sku is empty")
	case !utf8.ValidString(p.sku) || utf8.RuneCountInString(p.sku) > maxSKULen || strings.ContainsFunc(p.sku, unicode.IsSpace):
		return product{}, fmt.Errorf("sku %q: want 1..%d characters without spaces", p.sku, maxSKULen)
	case p.name == "":
		return product{}, errors.New("name is empty")
	case !utf8.ValidString(p.name) || utf8.RuneCountInString(p.name) > maxNameLen:
		return product{}, fmt.Errorf("name: want valid UTF-8 of at most %d characters", maxNameLen)
	}
	var err error
	if p.priceCents, err = parsePrice(strings.TrimSpace(rec[h.price])); err != nil {
		return product{}, err
	}
	q := strings.TrimSpace(rec[h.quantity])
	if p.quantity, err = strconv.ParseInt(q, 10, 64); err != nil || p.quantity < 0 || strings.HasPrefix(q, "+") {
		return product{}, fmt.Errorf("quantity %q: want a non-negative whole number", q)
	}
	return p, nil
}

// parsePrice turns "12.5" into 1250 cents.
func parsePrice(s string) (int64, error) {
	if !priceRE.MatchString(s) {
		return 0, fmt.Errorf("price %q: want a non-negative amount with at most 2 decimals, e.g. 12.50", s)
	}
	whole, frac, _ := strings.Cut(s, ".")
	frac = (frac + "00")[:2]
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("price %q: %w", s, err)
	}
	f, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("price %q: %w", s, err)
	}
	return w*100 + f, nil
}

// catalogueReader reads a catalogue file a batch at a time, keeping the
// rows that are valid and whose sku comes first in the file.
type catalogueReader struct {
	csv    *csv.Reader
	header header
	first  map[string]int // sku → line of its first valid row
	// rows counts the data rows read so far; invalid and duplicate those
	// of them left out.
	rows, invalid, duplicate int
	// skip is told of every row left out, and why.
	skip func(line int, reason string)
}

// newCatalogueReader reads the header of r.
func newCatalogueReader(r io.Reader, skip func(line int, reason string)) (*catalogueReader, error) {
	c := csv.NewReader(r)
	c.FieldsPerRecord = -1 // checked per row, so that one short row is skipped, not fatal
	rec, err := c.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("the file is empty; want a header sku,name,price,quantity")
	}
	if err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	h, err := parseHeader(rec)
	if err != nil {
		return nil, err
	}
	return &catalogueReader{csv: c, header: h, first: make(map[string]int), skip: skip}, nil
}

// next reads up to n data rows and returns the valid, first-in-file ones
// among them, how many rows it read, and whether the file is done.
func (c *catalogueReader) next(n int) (valid []product, read int, done bool, err error) {
	for read < n {
		rec, err := c.csv.Read()
		if errors.Is(err, io.EOF) {
			return valid, read, true, nil
		}
		if pe, ok := errors.AsType[*csv.ParseError](err); ok {
			// A malformed row (a stray quote, say) is skipped like any
			// other bad row; the reader goes on after it.
			read++
			c.rows++
			c.invalid++
			c.skip(pe.StartLine, pe.Err.Error())
			continue
		}
		if err != nil {
			return nil, read, false, fmt.Errorf("read row %d: %w", c.rows+1, err)
		}
		read++
		c.rows++
		line, _ := c.csv.FieldPos(0)
		p, err := c.header.parse(line, rec)
		if err != nil {
			c.invalid++
			c.skip(line, err.Error())
			continue
		}
		if at, dup := c.first[p.sku]; dup {
			c.duplicate++
			c.skip(line, fmt.Sprintf("sku %q repeats line %d", p.sku, at))
			continue
		}
		c.first[p.sku] = line
		valid = append(valid, p)
	}
	return valid, read, false, nil
}

// offset is how many bytes of the file the reader has used.
func (c *catalogueReader) offset() int64 { return c.csv.InputOffset() }
