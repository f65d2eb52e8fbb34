package main

import (
	"fmt"
	"math"
	"math/big"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// checkNumbers refuses the number literals of a config file that a
// float64 cannot hold.
//
// HCL keeps numbers as big.Floats with an unbounded exponent and writes
// them out digit by digit when it turns one into a string or into JSON:
// data_dir = 1e99999999, or config = { n = 1e-99999999 } for a plugin,
// takes minutes and hundreds of megabytes for a line of 30 bytes. No
// handler could use such a number anyway (encoding/json refuses it into a
// float64), so the loader refuses it, at its place, before anything is
// evaluated. JSON syntax lexes the same way for numbers; in it strings
// are not templates (we evaluate without a context), so they need no look.
//
// Arithmetic on literals in range can still build a huge number, but only
// some 300 digits per operator: that takes a file of thousands of them.
func checkNumbers(src []byte, filename string) hcl.Diagnostics {
	tokens, _ := hclsyntax.LexConfig(src, filename, hcl.InitialPos)
	var diags hcl.Diagnostics
	for _, tok := range tokens {
		if tok.Type != hclsyntax.TokenNumberLit {
			continue
		}
		f, _, err := big.ParseFloat(string(tok.Bytes), 10, 64, big.ToNearestEven)
		if err != nil {
			continue // the parser says what is wrong with it
		}
		if v, _ := f.Float64(); math.IsInf(v, 0) || v == 0 && f.Sign() != 0 {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid number",
				Detail:   fmt.Sprintf("%s is out of range: want a magnitude a 64-bit float holds, from about 5e-324 to 1.8e308", tok.Bytes),
				Subject:  tok.Range.Ptr(),
			})
		}
	}
	return diags
}
