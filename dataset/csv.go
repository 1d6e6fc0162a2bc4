package dataset

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// CSVOptions selects the columns of a CSV file. The zero value reads the
// user from column "user", the target from column "y" when present, and
// every other column as a feature.
type CSVOptions struct {
	// UserColumn names the user column; "" means "user".
	UserColumn string
	// TargetColumn names the target column; "" means "y".
	TargetColumn string
	// Features lists the feature columns in order; nil means every column
	// that is neither the user, the target nor ignored.
	Features []string
	// Ignore lists columns to skip when Features is nil.
	Ignore []string
	// RequireTarget makes a missing target column an error. When false, a
	// file without the target column yields a Dataset with HasTarget false.
	RequireTarget bool
	// MaxRows bounds the number of data rows; 0 means no bound.
	MaxRows int
}

// ReadCSVFile reads the CSV file at path; see ReadCSV.
func ReadCSVFile(ctx context.Context, path string, opt CSVOptions) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	return ReadCSV(ctx, f, path, opt)
}

// ReadCSV reads per-user samples from CSV data with a header row. name is
// used in error messages, which give the line and column of any bad value.
// Empty input, duplicate or missing columns, ragged rows, unparsable numbers
// and NaN or infinite values are errors; nothing is silently dropped.
func ReadCSV(ctx context.Context, r io.Reader, name string, opt CSVOptions) (*Dataset, error) {
	ds, err := readCSV(ctx, r, name, opt)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	return ds, nil
}

// readCSV is ReadCSV with errors that do not name the package.
func readCSV(ctx context.Context, r io.Reader, name string, opt CSVOptions) (*Dataset, error) {
	userCol := opt.UserColumn
	if userCol == "" {
		userCol = "user"
	}
	targetCol := opt.TargetColumn
	if targetCol == "" {
		targetCol = "y"
	}
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%s: empty file: want a header row", name)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	header = append([]string(nil), header...)
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	pos := make(map[string]int, len(header))
	for i, h := range header {
		h = strings.TrimSpace(h)
		header[i] = h
		if h == "" {
			return nil, fmt.Errorf("%s:1: column %d has an empty name", name, i+1)
		}
		if j, dup := pos[h]; dup {
			return nil, fmt.Errorf("%s:1: duplicate column %q (columns %d and %d)", name, h, j+1, i+1)
		}
		pos[h] = i
	}
	ui, ok := pos[userCol]
	if !ok {
		return nil, fmt.Errorf("%s:1: missing user column %q (columns: %s)", name, userCol, strings.Join(header, ","))
	}
	ti, hasTarget := pos[targetCol]
	if !hasTarget && opt.RequireTarget {
		return nil, fmt.Errorf("%s:1: missing target column %q (columns: %s)", name, targetCol, strings.Join(header, ","))
	}
	var fcols []int
	var fnames []string
	if opt.Features != nil {
		for _, f := range opt.Features {
			i, ok := pos[f]
			if !ok {
				return nil, fmt.Errorf("%s:1: missing feature column %q", name, f)
			}
			if i == ui || (hasTarget && i == ti) {
				return nil, fmt.Errorf("%s:1: feature column %q is also the user or target column", name, f)
			}
			fcols = append(fcols, i)
			fnames = append(fnames, f)
		}
	} else {
		ignore := map[string]bool{}
		for _, c := range opt.Ignore {
			if _, ok := pos[c]; !ok {
				return nil, fmt.Errorf("%s:1: ignored column %q is not in the header", name, c)
			}
			ignore[c] = true
		}
		for i, h := range header {
			if i == ui || (hasTarget && i == ti) || ignore[h] {
				continue
			}
			fcols = append(fcols, i)
			fnames = append(fnames, h)
		}
	}
	if len(fcols) == 0 {
		return nil, fmt.Errorf("%s:1: no feature columns", name)
	}
	b := NewBuilder(fnames, hasTarget)
	x := make([]float64, len(fcols))
	row := 0
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount) {
				return nil, fmt.Errorf("%s:%d: ragged row: %d fields, header has %d", name, pe.Line, len(rec), len(header))
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		if row%65536 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", name, line, err)
			}
		}
		if opt.MaxRows > 0 && row >= opt.MaxRows {
			return nil, fmt.Errorf("%s:%d: more than %d data rows", name, line, opt.MaxRows)
		}
		id := rec[ui]
		if id == "" {
			return nil, fmt.Errorf("%s:%d: empty user id in column %q", name, line, userCol)
		}
		for j, c := range fcols {
			v, err := parseValue(rec[c])
			if err != nil {
				return nil, fmt.Errorf("%s:%d: column %q: %w", name, line, header[c], err)
			}
			x[j] = v
		}
		y := 0.0
		if hasTarget {
			y, err = parseValue(rec[ti])
			if err != nil {
				return nil, fmt.Errorf("%s:%d: column %q: %w", name, line, header[ti], err)
			}
		}
		b.Add(id, x, y, row)
		row++
	}
	if row == 0 {
		return nil, fmt.Errorf("%s: no data rows after the header", name)
	}
	return b.Dataset(), nil
}

func parseValue(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, fmt.Errorf("bad number %q", s)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("value %q is not finite", s)
	}
	return v, nil
}

// WriteCSV writes ds as CSV with columns user, the features and, when ds has
// a target, y, in input row order.
func WriteCSV(w io.Writer, ds *Dataset) error {
	cw := csv.NewWriter(w)
	head := append([]string{"user"}, ds.Features...)
	if ds.HasTarget {
		head = append(head, "y")
	}
	if err := cw.Write(head); err != nil {
		return err
	}
	type ref struct{ u, j int }
	order := make([]ref, ds.Rows())
	for i := range order {
		order[i] = ref{-1, -1}
	}
	for i := range ds.Users {
		for j, r := range ds.Users[i].Rows {
			order[r] = ref{i, j}
		}
	}
	d := ds.Dim()
	rec := make([]string, len(head))
	for _, o := range order {
		if o.u < 0 {
			continue
		}
		u := &ds.Users[o.u]
		rec[0] = u.ID
		for k, v := range u.X[o.j*d : (o.j+1)*d] {
			rec[1+k] = strconv.FormatFloat(v, 'g', -1, 64)
		}
		if ds.HasTarget {
			rec[1+d] = strconv.FormatFloat(u.Y[o.j], 'g', -1, 64)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
