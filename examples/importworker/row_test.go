package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseRow(t *testing.T) {
	t.Parallel()
	h, err := parseHeader([]string{"sku", "name", "price", "quantity"})
	require.NoError(t, err)
	for _, tc := range []struct {
		rec  []string
		want product
		err  string
	}{
		{rec: []string{" A1 ", " Lamp ", "12.5", "3"}, want: product{line: 2, sku: "A1", name: "Lamp", priceCents: 1250, quantity: 3}},
		{rec: []string{"A1", "Lamp", "0", "0"}, want: product{line: 2, sku: "A1", name: "Lamp"}},
		{rec: []string{"A1", "Lamp", "7.05", "1"}, want: product{line: 2, sku: "A1", name: "Lamp", priceCents: 705, quantity: 1}},
		{rec: []string{"", "Lamp", "1", "1"}, err: "sku is empty"},
		{rec: []string{"A 1", "Lamp", "1", "1"}, err: "without spaces"},
		{rec: []string{"A1", "", "1", "1"}, err: "name is empty"},
		{rec: []string{"A1", "Lamp", "-1", "1"}, err: `price "-1": want a non-negative amount`},
		{rec: []string{"A1", "Lamp", "1.234", "1"}, err: "at most 2 decimals"},
		{rec: []string{"A1", "Lamp", "1e3", "1"}, err: `price "1e3"`},
		{rec: []string{"A1", "Lamp", ".5", "1"}, err: `price ".5"`},
		{rec: []string{"A1", "Lamp", "", "1"}, err: `price ""`},
		{rec: []string{"A1", "Lamp", "1", "-2"}, err: `quantity "-2": want a non-negative whole number`},
		{rec: []string{"A1", "Lamp", "1", "1.5"}, err: `quantity "1.5"`},
		{rec: []string{"A1", "Lamp", "1", "+2"}, err: `quantity "+2"`},
		{rec: []string{"A1", "Lamp", "1"}, err: "has 3 fields, the header 4"},
	} {
		got, err := h.parse(2, tc.rec)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.rec)
			continue
		}
		require.NoError(t, err, tc.rec)
		require.Equal(t, tc.want, got)
	}
}

func TestParseHeader(t *testing.T) {
	t.Parallel()
	h, err := parseHeader([]string{"\ufeffQuantity", " Price ", "note", "SKU", "name"})
	require.NoError(t, err)
	require.Equal(t, header{fields: 5, sku: 3, name: 4, price: 1, quantity: 0}, h)

	_, err = parseHeader([]string{"sku", "title", "cost", "quantity"})
	require.ErrorContains(t, err, "lacks column(s) name,price")
	_, err = parseHeader([]string{"sku", "name", "price", "quantity", "SKU"})
	require.ErrorContains(t, err, `names column "SKU" twice`)
}
