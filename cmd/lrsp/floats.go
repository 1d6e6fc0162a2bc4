package main

import (
	"fmt"
	"strconv"
	"strings"
)

// floatsValue is a flag value holding a list of numbers, given comma
// separated or by repeating the flag. Its help shows the type as "floats"
// and the default as the numbers in their shortest form ("0,0.1"), where
// pflag's float64Slice shows "float64Slice (default [0.000000,0.100000])".
type floatsValue struct {
	v       *[]float64
	changed bool
}

// newFloats returns a floatsValue holding v, initialised to def.
func newFloats(v *[]float64, def []float64) *floatsValue {
	*v = append([]float64(nil), def...)
	return &floatsValue{v: v}
}

func (f *floatsValue) String() string {
	if f.v == nil {
		return ""
	}
	s := make([]string, len(*f.v))
	for i, x := range *f.v {
		s[i] = strconv.FormatFloat(x, 'g', -1, 64)
	}
	return strings.Join(s, ",")
}

// Set parses a comma-separated list; the first Set replaces the default,
// later ones append.
func (f *floatsValue) Set(s string) error {
	var out []float64
	for _, part := range strings.Split(s, ",") {
		x, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
		if err != nil {
			return fmt.Errorf("want comma-separated numbers, got %q", part)
		}
		out = append(out, x)
	}
	if !f.changed {
		*f.v = nil
	}
	*f.v = append(*f.v, out...)
	f.changed = true
	return nil
}

func (f *floatsValue) Type() string { return "floats" }
