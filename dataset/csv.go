package dataset

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
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
	// Comma is the field delimiter of CSV input; 0 means ','. It must be a
	// valid character other than '"', '\r', '\n' and U+FFFD.
	Comma rune
	// NA lists the CSV values that mean "missing" (compared after trimming
	// spaces, as every value is); an empty field is always missing. lrsp's
	// methods do not handle missing values: a missing user id, feature or
	// target is an error that names the file, line and column and says
	// that the value is missing rather than a bad number. nil means none
	// besides the empty field.
	NA []string
	// MaxLineBytes bounds the size of one CSV record (one line, or more
	// when a quoted field holds newlines), so that a huge field is refused
	// after reading at most this many bytes of it; 0 means
	// DefaultMaxLineBytes, a negative value no bound.
	MaxLineBytes int
}

// DefaultMaxLineBytes is the bound on a CSV record when
// CSVOptions.MaxLineBytes is 0: 1 MiB, over 20,000 features at full
// precision.
const DefaultMaxLineBytes = 1 << 20

// maxQuote is the most bytes of a bad value that error messages quote.
const maxQuote = 40

// Quote returns s quoted for an error message: whole when it has at most
// 40 bytes, else its first 40 bytes and its length, so that a huge value is
// never echoed.
func Quote(s string) string {
	if len(s) <= maxQuote {
		return strconv.Quote(s)
	}
	cut := maxQuote
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(s[:cut]), len(s))
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
// used in error messages, which give the line and column of any bad value
// (quoting at most its first 40 bytes). Empty input, duplicate or missing
// columns, ragged rows, records longer than opt.MaxLineBytes, missing
// values, unparsable numbers and NaN or infinite values are errors;
// nothing is silently dropped. Spaces around every value (user ids,
// numbers and column names alike) are trimmed: " u0" and "u0" are one user.
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
	limit := int64(opt.MaxLineBytes)
	if limit == 0 {
		limit = DefaultMaxLineBytes
	}
	if limit > 0 {
		r = &recordLimiter{r: r, max: limit, line: 1, start: 1}
	}
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	if opt.Comma != 0 {
		if opt.Comma == '"' || opt.Comma == '\r' || opt.Comma == '\n' || opt.Comma == utf8.RuneError || !utf8.ValidRune(opt.Comma) {
			return nil, fmt.Errorf("%s: delimiter %q cannot separate fields", name, opt.Comma)
		}
		cr.Comma = opt.Comma
	}
	na := map[string]bool{"": true}
	for _, v := range opt.NA {
		na[strings.TrimSpace(v)] = true
	}
	header, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%s: empty file: want a header row", name)
	}
	if err != nil {
		return nil, readError(name, err)
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
		if strings.ContainsRune(h, '\r') {
			// encoding/csv reads "\r\n" inside quotes as "\n", so such a
			// name could not be written back unchanged.
			return nil, fmt.Errorf("%s:1: column %d name %s contains a carriage return", name, i+1, Quote(h))
		}
		if j, dup := pos[h]; dup {
			return nil, fmt.Errorf("%s:1: duplicate column %s (columns %d and %d)", name, Quote(h), j+1, i+1)
		}
		pos[h] = i
	}
	ui, ok := pos[userCol]
	if !ok {
		return nil, fmt.Errorf("%s:1: missing user column %q (columns: %s)", name, userCol, columnList(header))
	}
	ti, hasTarget := pos[targetCol]
	if !hasTarget && opt.RequireTarget {
		return nil, fmt.Errorf("%s:1: missing target column %q (columns: %s)", name, targetCol, columnList(header))
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
			return nil, readError(name, err)
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
		id := strings.TrimSpace(rec[ui])
		if id == "" {
			return nil, fmt.Errorf("%s:%d: empty user id in column %q", name, line, userCol)
		}
		if na[id] {
			return nil, fmt.Errorf("%s:%d: column %q: missing user id %s", name, line, userCol, Quote(id))
		}
		if strings.ContainsRune(id, '\r') {
			return nil, fmt.Errorf("%s:%d: column %q: user id %s contains a carriage return", name, line, userCol, Quote(id))
		}
		for j, c := range fcols {
			v, err := parseValue(rec[c], na)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: column %s: %w", name, line, Quote(header[c]), err)
			}
			x[j] = v
		}
		y := 0.0
		if hasTarget {
			y, err = parseValue(rec[ti], na)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: column %s: %w", name, line, Quote(header[ti]), err)
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

// parseValue parses the number s, trimmed of spaces; the values of na are
// missing.
func parseValue(s string, na map[string]bool) (float64, error) {
	s = strings.TrimSpace(s)
	if na[s] {
		return 0, fmt.Errorf("missing value %s: lrsp's methods need every value; drop or impute the row", Quote(s))
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("bad number %s", Quote(s))
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("value %s is not finite", Quote(s))
	}
	return v, nil
}

// columnList formats the names of a header for a message, at most eight,
// each quoted by Quote.
func columnList(header []string) string {
	var b strings.Builder
	for i, h := range header {
		if i == 8 {
			fmt.Fprintf(&b, ", ... (%d columns)", len(header))
			break
		}
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(Quote(h))
	}
	return b.String()
}

// readError is the error of the CSV reader err for the input name.
func readError(name string, err error) error {
	var long *longRecordError
	if errors.As(err, &long) {
		return fmt.Errorf("%s:%d: %w", name, long.line, long)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// longRecordError reports a record longer than the limit.
type longRecordError struct {
	line int   // the line the record starts on
	max  int64 // the limit
}

func (e *longRecordError) Error() string {
	return fmt.Sprintf("a record of more than %d bytes (the --max-line-bytes limit); nothing more of it was read", e.max)
}

// recordLimiter passes on the bytes of r until one CSV record exceeds max
// bytes, and then fails with a *longRecordError. It finds record ends as
// the newlines outside quotes: a '"' toggles the quoted state, which is
// exact for valid CSV (an escaped quote "" toggles twice) and leaves the
// reader to report invalid CSV.
type recordLimiter struct {
	r           io.Reader
	max         int64
	n           int64 // bytes of the current record so far
	quoted      bool
	line, start int // the current line and the current record's first
	err         error
}

func (l *recordLimiter) Read(b []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.r.Read(b)
	for i := 0; i < n; {
		// Jump to the next quote or newline, counting the bytes between.
		j := bytes.IndexAny(b[i:n], "\"\n")
		if j < 0 {
			j = n - i
		}
		if l.n+int64(j) > l.max {
			l.err = &longRecordError{line: l.start, max: l.max}
			if k := i + int(l.max-l.n); k > 0 {
				return k, nil
			}
			return 0, l.err
		}
		l.n += int64(j)
		i += j
		if i == n {
			break
		}
		l.n++
		if b[i] == '"' {
			l.quoted = !l.quoted
		} else {
			l.line++
			if !l.quoted {
				l.n, l.start = 0, l.line
			}
		}
		i++
	}
	return n, err
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
