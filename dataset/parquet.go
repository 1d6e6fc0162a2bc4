package dataset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// ParquetOptions configures ReadParquet. The zero value reads the columns
// that the zero CSVOptions selects and reports no progress.
type ParquetOptions struct {
	// Columns selects the user, target and feature columns, bounds the rows
	// and says whether the target is required, exactly as for CSV input.
	Columns CSVOptions
	// Progress, when non-nil, is called from the reading goroutine as rows
	// are read, with the data rows read so far and the total that the files'
	// footers declare.
	Progress func(done, total int64)
}

// parquetBatch is the number of rows decoded per column before they are
// assembled into samples; it bounds the reader's working memory.
const parquetBatch = 1024

// IsParquetPath reports whether path names Parquet input: a file whose name
// ends in ".parquet" (any case) or a directory.
func IsParquetPath(path string) bool {
	if strings.EqualFold(filepath.Ext(path), ".parquet") {
		return true
	}
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// ParquetFiles returns the Parquet files that path stands for: path itself
// when it is a file, or the files directly inside a directory whose names end
// in ".parquet" (any case), sorted by name. Names starting with "." or "_"
// are skipped, as are subdirectories, following the convention of the tools
// that write directories of part files. A directory without Parquet files is
// an error.
func ParquetFiles(path string) ([]string, error) {
	files, err := parquetFiles(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	return files, nil
}

// parquetFiles is ParquetFiles with errors that do not name the package.
func parquetFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path) // sorted by file name
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_") || !strings.EqualFold(filepath.Ext(n), ".parquet") {
			continue
		}
		files = append(files, filepath.Join(path, n))
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: directory holds no *.parquet files", path)
	}
	return files, nil
}

// ReadParquetFile reads the Parquet file or directory of Parquet files at
// path (see ParquetFiles) with the column options of CSV input; see
// ReadParquet.
func ReadParquetFile(ctx context.Context, path string, opt CSVOptions) (*Dataset, error) {
	files, err := parquetFiles(path)
	if err == nil {
		var ds *Dataset
		if ds, err = readParquet(ctx, files, ParquetOptions{Columns: opt}); err == nil {
			return ds, nil
		}
	}
	return nil, fmt.Errorf("dataset: %w", err)
}

// ReadParquet reads per-user samples from Parquet files, taken in the given
// order as one data set: input row numbers (User.Rows) run on across files.
// Columns are found by name among the files' leaf columns (a nested column
// is named by its path joined with "."); when Features is nil the features
// are the remaining columns in schema order, and every file must then yield
// the same feature names in the same order, and the same presence of the
// target column.
//
// The user column may hold strings (BYTE_ARRAY) or integers of any width,
// which become decimal IDs. Feature and target columns must be numeric:
// INT32 or INT64 (signed or unsigned), FLOAT, DOUBLE, or BOOLEAN, read as
// 0 or 1. String, decimal, date, time and timestamp columns are rejected with
// an error naming the column, as are repeated (list) columns. Null, NaN and
// infinite values are errors naming the file, the 1-based data row within
// that file and the column; nothing is silently dropped. A file without
// rows contributes nothing, but input without any rows is an error.
//
// Row groups are streamed a batch of rows at a time, so memory beyond the
// returned Dataset stays bounded by a few pages per column. ctx is checked
// between batches. A panic inside the Parquet library on a malformed file is
// returned as an error naming the file.
func ReadParquet(ctx context.Context, files []string, opt ParquetOptions) (*Dataset, error) {
	ds, err := readParquet(ctx, files, opt)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	return ds, nil
}

// readParquet is ReadParquet with errors that do not name the package.
func readParquet(ctx context.Context, files []string, opt ParquetOptions) (*Dataset, error) {
	if len(files) == 0 {
		return nil, errors.New("read parquet: no files")
	}
	r := &parquetReader{opt: opt.Columns, progress: opt.Progress, intern: map[string]string{}}
	for _, name := range files {
		n, err := parquetRows(name)
		if err != nil {
			return nil, err
		}
		r.total += n
		if limit := int64(opt.Columns.MaxRows); limit > 0 && r.total > limit {
			return nil, fmt.Errorf("%s: more than %d data rows (the files so far declare %d)", name, limit, r.total)
		}
	}
	for _, name := range files {
		if err := r.readFile(ctx, name); err != nil {
			return nil, err
		}
	}
	if r.rows == 0 {
		what := files[0]
		if len(files) > 1 {
			what = fmt.Sprintf("%s and %d other files", files[0], len(files)-1)
		}
		return nil, fmt.Errorf("%s: no data rows", what)
	}
	return r.b.Dataset(), nil
}

// parquetRows returns the number of rows that the footer of the file at
// name declares.
func parquetRows(name string) (n int64, err error) {
	err = withParquetFile(name, func(pf *parquet.File) error {
		n = pf.NumRows()
		if n < 0 {
			return fmt.Errorf("footer declares %d rows", n)
		}
		return nil
	})
	return n, err
}

// withParquetFile opens the Parquet file at name, calls fn with it and closes
// it. Errors, and panics of the Parquet library on malformed input, are
// returned prefixed with name.
func withParquetFile(name string, fn func(*parquet.File) error) (err error) {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: malformed Parquet file: %v", name, p)
		}
	}()
	pf, err := parquet.OpenFile(f, st.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true),
		parquet.ReadBufferSize(256<<10))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := fn(pf); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// parquetKind says how the values of a column become a user ID or a number.
type parquetKind uint8

const (
	kindBool parquetKind = iota
	kindInt32
	kindUint32
	kindInt64
	kindUint64
	kindFloat
	kindDouble
	kindString
)

// parquetColumn is one selected leaf column of a file.
type parquetColumn struct {
	name  string
	index int // leaf index in the row group's column chunks
	kind  parquetKind
}

type parquetReader struct {
	opt      CSVOptions
	progress func(done, total int64)

	b         *Builder
	features  []string // resolved from the first file
	hasTarget bool
	first     string // name of the first file, for consistency errors

	rows, total int64 // data rows read so far; rows declared by all footers
	intern      map[string]string
	lastID      []byte
	lastStr     string
	idBuf       []byte

	// Batch buffers, reused across row groups: values as read, numbers
	// per numeric column (features, then the target), features row-major
	// and user IDs.
	vals []parquet.Value
	num  [][]float64
	x    []float64
	ids  []string
}

// readFile appends the rows of one file.
func (r *parquetReader) readFile(ctx context.Context, name string) error {
	return withParquetFile(name, func(pf *parquet.File) error {
		user, feats, target, err := r.resolve(pf)
		if err != nil {
			return err
		}
		names := make([]string, len(feats))
		for i, c := range feats {
			names[i] = c.name
		}
		if r.b == nil {
			r.features, r.hasTarget, r.first = names, target != nil, name
			r.b = NewBuilder(names, target != nil)
		} else {
			if (target != nil) != r.hasTarget {
				return fmt.Errorf("target column %q present in only one of this file and %s", r.targetName(), r.first)
			}
			if !slices.Equal(names, r.features) {
				return fmt.Errorf("feature columns %s differ from %s in %s", strings.Join(names, ","), strings.Join(r.features, ","), r.first)
			}
		}
		cols := append([]parquetColumn{user}, feats...)
		if target != nil {
			cols = append(cols, *target)
		}
		var fileRow int64
		for g, rg := range pf.RowGroups() {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("row %d: %w", fileRow+1, err)
			}
			n, err := r.readRowGroup(ctx, rg, g, cols, fileRow)
			if err != nil {
				return err
			}
			fileRow += n
		}
		return nil
	})
}

func (r *parquetReader) userName() string {
	if r.opt.UserColumn == "" {
		return "user"
	}
	return r.opt.UserColumn
}

func (r *parquetReader) targetName() string {
	if r.opt.TargetColumn == "" {
		return "y"
	}
	return r.opt.TargetColumn
}

// resolve finds the selected columns of pf and checks their types.
func (r *parquetReader) resolve(pf *parquet.File) (user parquetColumn, feats []parquetColumn, target *parquetColumn, err error) {
	var leaves []*parquet.Column
	var names []string
	var walk func(c *parquet.Column)
	walk = func(c *parquet.Column) {
		for _, ch := range c.Columns() {
			if ch.Leaf() {
				leaves = append(leaves, ch)
				names = append(names, strings.Join(ch.Path(), "."))
			} else {
				walk(ch)
			}
		}
	}
	walk(pf.Root())
	pos := make(map[string]int, len(leaves))
	for i, n := range names {
		if j, dup := pos[n]; dup {
			return user, nil, nil, fmt.Errorf("duplicate column %q (columns %d and %d)", n, j+1, i+1)
		}
		pos[n] = i
	}
	column := func(i int, numeric bool) (parquetColumn, error) {
		c, name := leaves[i], names[i]
		if c.MaxRepetitionLevel() > 0 {
			return parquetColumn{}, fmt.Errorf("column %q is repeated (a list); want one value per row", name)
		}
		k, err := columnKind(c, numeric)
		if err != nil {
			return parquetColumn{}, fmt.Errorf("column %q: %w", name, err)
		}
		return parquetColumn{name: name, index: c.Index(), kind: k}, nil
	}
	userCol, targetCol := r.userName(), r.targetName()
	ui, ok := pos[userCol]
	if !ok {
		return user, nil, nil, fmt.Errorf("missing user column %q (columns: %s)", userCol, strings.Join(names, ","))
	}
	if user, err = column(ui, false); err != nil {
		return user, nil, nil, err
	}
	ti, hasTarget := pos[targetCol]
	if !hasTarget && r.opt.RequireTarget {
		return user, nil, nil, fmt.Errorf("missing target column %q (columns: %s)", targetCol, strings.Join(names, ","))
	}
	if hasTarget {
		t, err := column(ti, true)
		if err != nil {
			return user, nil, nil, err
		}
		target = &t
	}
	var fidx []int
	if r.opt.Features != nil {
		for _, f := range r.opt.Features {
			i, ok := pos[f]
			if !ok {
				return user, nil, nil, fmt.Errorf("missing feature column %q", f)
			}
			if i == ui || (hasTarget && i == ti) {
				return user, nil, nil, fmt.Errorf("feature column %q is also the user or target column", f)
			}
			fidx = append(fidx, i)
		}
	} else {
		ignore := map[string]bool{}
		for _, c := range r.opt.Ignore {
			if _, ok := pos[c]; !ok {
				return user, nil, nil, fmt.Errorf("ignored column %q is not in the file", c)
			}
			ignore[c] = true
		}
		for i, n := range names {
			if i == ui || (hasTarget && i == ti) || ignore[n] {
				continue
			}
			fidx = append(fidx, i)
		}
	}
	if len(fidx) == 0 {
		return user, nil, nil, errors.New("no feature columns")
	}
	for _, i := range fidx {
		c, err := column(i, true)
		if err != nil {
			return user, nil, nil, err
		}
		feats = append(feats, c)
	}
	return user, feats, target, nil
}

// columnKind checks the type of c for use as a number (numeric) or a user ID.
func columnKind(c *parquet.Column, numeric bool) (parquetKind, error) {
	t := c.Type()
	unsigned := false
	if lt := t.LogicalType(); lt != nil && lt.Value != nil {
		switch v := lt.Value.(type) {
		case *format.IntType:
			unsigned = !v.IsSigned
		case *format.StringType, *format.EnumType:
			if numeric {
				return 0, fmt.Errorf("type %s holds strings; feature and target columns must be numeric (INT32, INT64, FLOAT, DOUBLE or BOOLEAN)", t)
			}
		default:
			return 0, fmt.Errorf("type %s is not supported; cast it to DOUBLE, BIGINT or (for the user) STRING", t)
		}
	}
	switch t.Kind() {
	case parquet.Boolean:
		if numeric {
			return kindBool, nil
		}
	case parquet.Int32:
		if unsigned {
			return kindUint32, nil
		}
		return kindInt32, nil
	case parquet.Int64:
		if unsigned {
			return kindUint64, nil
		}
		return kindInt64, nil
	case parquet.Float:
		if numeric {
			return kindFloat, nil
		}
	case parquet.Double:
		if numeric {
			return kindDouble, nil
		}
	case parquet.ByteArray:
		if !numeric {
			return kindString, nil
		}
		return 0, fmt.Errorf("type %s holds strings; feature and target columns must be numeric (INT32, INT64, FLOAT, DOUBLE or BOOLEAN)", t)
	}
	if numeric {
		return 0, fmt.Errorf("type %s is not numeric; want INT32, INT64, FLOAT, DOUBLE or BOOLEAN", t)
	}
	return 0, fmt.Errorf("type %s cannot be a user ID; want a string or an integer column", t)
}

// parquetCursor reads the values of one column chunk across its pages.
type parquetCursor struct {
	pages   parquet.Pages
	page    parquet.Page
	values  parquet.ValueReader
	doubles parquet.DoubleReader // values, when the page reads float64 directly
	done    []parquet.Page       // pages fully read, released on the next read
}

// valueError is a null or non-finite value at position row of a batch.
type valueError struct {
	row int
	err error
}

func (e *valueError) Error() string { return e.err.Error() }

// next makes the next page current; it reports false at the end of the
// column chunk.
func (c *parquetCursor) next() (bool, error) {
	p, err := c.pages.ReadPage()
	if err == io.EOF {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	c.page, c.values = p, p.Values()
	c.doubles, _ = c.values.(parquet.DoubleReader)
	return true, nil
}

// advance records the outcome of reading k values from the current page and
// moves past it when it has no more.
func (c *parquetCursor) advance(k int, err error) error {
	if err == io.EOF {
		c.done = append(c.done, c.page)
		c.page, c.values, c.doubles = nil, nil, nil
		return nil
	}
	if err != nil {
		return err
	}
	if k == 0 {
		return errors.New("page reader made no progress")
	}
	return nil
}

// release returns the pages read past to the library's buffer pool. Values
// read before may refer to their memory, so the caller must be done with
// them.
func (c *parquetCursor) release() {
	for _, p := range c.done {
		parquet.Release(p)
	}
	c.done = c.done[:0]
}

// readValues fills buf unless the column ends first, and returns the number
// of values read.
func (c *parquetCursor) readValues(buf []parquet.Value) (int, error) {
	c.release()
	n := 0
	for n < len(buf) {
		if c.values == nil {
			if ok, err := c.next(); !ok || err != nil {
				return n, err
			}
		}
		k, err := c.values.ReadValues(buf[n:])
		n += k
		if err := c.advance(k, err); err != nil {
			return n, err
		}
	}
	return n, nil
}

// readNumbers fills dst with the next numbers of a numeric column of the
// given kind, unless the column ends first, and returns how many it read.
// Pages of doubles are read directly; others through vbuf. A null value is
// a *valueError. Finiteness is left to the caller.
func (c *parquetCursor) readNumbers(dst []float64, kind parquetKind, vbuf []parquet.Value) (int, error) {
	c.release()
	n := 0
	for n < len(dst) {
		if c.values == nil {
			if ok, err := c.next(); !ok || err != nil {
				return n, err
			}
		}
		var k int
		var err error
		if c.doubles != nil && kind == kindDouble {
			k, err = c.doubles.ReadDoubles(dst[n:])
		} else {
			k, err = c.values.ReadValues(vbuf[:min(len(vbuf), len(dst)-n)])
			if j, cerr := convertValues(vbuf[:k], kind, dst[n:]); cerr != nil {
				return n + j, &valueError{row: n + j, err: cerr}
			}
		}
		n += k
		if err := c.advance(k, err); err != nil {
			return n, err
		}
	}
	return n, nil
}

func (c *parquetCursor) close() {
	c.release()
	if c.page != nil {
		parquet.Release(c.page)
	}
	c.pages.Close()
}

// readRowGroup appends the rows of rg, the g-th row group of its file, and
// returns how many there were. first is the number of rows of the file
// before rg. cols[0] is the user column, then come the features and, last,
// the target if there is one.
func (r *parquetReader) readRowGroup(ctx context.Context, rg parquet.RowGroup, g int, cols []parquetColumn, first int64) (int64, error) {
	n := rg.NumRows()
	if n < 0 {
		return 0, fmt.Errorf("row group %d declares %d rows", g, n)
	}
	chunks := rg.ColumnChunks()
	cursors := make([]*parquetCursor, len(cols))
	for i, c := range cols {
		if c.index < 0 || c.index >= len(chunks) {
			return 0, fmt.Errorf("row group %d: column %q has no column chunk", g, c.name)
		}
		cursors[i] = &parquetCursor{pages: chunks[c.index].Pages()}
		defer cursors[i].close()
	}
	d := len(r.features)
	if len(r.num) != len(cols)-1 {
		r.vals = make([]parquet.Value, parquetBatch)
		r.num = make([][]float64, len(cols)-1)
		for i := range r.num {
			r.num[i] = make([]float64, parquetBatch)
		}
		r.x = make([]float64, parquetBatch*d)
		r.ids = make([]string, parquetBatch)
	}
	zeros := make([]float64, parquetBatch) // targets when there are none
	for done := int64(0); done < n; {
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("row %d: %w", first+done+1, err)
		}
		k := int(min(int64(parquetBatch), n-done))
		if limit := int64(r.opt.MaxRows); limit > 0 && r.rows+int64(k) > limit {
			return 0, fmt.Errorf("row %d: more than %d data rows", first+done+limit-r.rows+1, limit)
		}
		// Read and convert column by column, keeping the error of the
		// earliest row (and of the first column within it), as the CSV
		// reader would report it.
		badRow, badCol, badErr := k, 0, error(nil)
		bad := func(i, j int, err error) {
			if j < badRow || (j == badRow && i < badCol) {
				badRow, badCol, badErr = j, i, fmt.Errorf("column %q: %w", cols[i].name, err)
			}
		}
		for i, c := range cursors {
			var got int
			var err error
			if i == 0 {
				got, err = c.readValues(r.vals[:k])
				if err == nil && got == k {
					if j, err := r.userIDs(r.vals[:k], cols[0], r.ids); err != nil {
						bad(0, j, err)
					}
				}
			} else {
				got, err = c.readNumbers(r.num[i-1][:k], cols[i].kind, r.vals)
			}
			var ve *valueError
			if errors.As(err, &ve) {
				bad(i, ve.row, ve.err)
				continue
			}
			if err != nil {
				return 0, fmt.Errorf("row group %d: column %q: %w", g, cols[i].name, err)
			}
			if got < k {
				return 0, fmt.Errorf("row group %d: column %q ends after %d values; the row group declares %d rows", g, cols[i].name, done+int64(got), n)
			}
		}
		// Check finiteness and lay the features out row by row.
		x := r.x
		for f, col := range r.num {
			// Rows after badRow do not matter, and a column that had a
			// null stopped being read there.
			for j, v := range col[:min(badRow+1, k)] {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					bad(1+f, j, fmt.Errorf("value %v is not finite", v))
					break
				}
				if f < d {
					x[j*d+f] = v
				}
			}
		}
		if badErr != nil {
			return 0, fmt.Errorf("row %d: %w", first+done+int64(badRow)+1, badErr)
		}
		y := zeros
		if r.hasTarget {
			y = r.num[d]
		}
		for j := 0; j < k; j++ {
			r.b.Add(r.ids[j], x[j*d:(j+1)*d], y[j], int(r.rows))
			r.rows++
		}
		done += int64(k)
		if r.progress != nil {
			r.progress(r.rows, r.total)
		}
	}
	// A column with more values than the row group's rows is malformed.
	var extra [1]parquet.Value
	for i, c := range cursors {
		if got, err := c.readValues(extra[:]); err != nil || got > 0 {
			if err == nil {
				err = errors.New("more values than rows")
			}
			return 0, fmt.Errorf("row group %d: column %q: after %d rows: %w", g, cols[i].name, n, err)
		}
	}
	return n, nil
}

// convertValues stores the numbers of vals in dst and returns the position
// of the first null and its error, if any.
func convertValues(vals []parquet.Value, kind parquetKind, dst []float64) (int, error) {
	for j, v := range vals {
		if v.IsNull() {
			return j, errors.New("null value")
		}
		var f float64
		switch kind {
		case kindBool:
			if v.Boolean() {
				f = 1
			}
		case kindInt32:
			f = float64(v.Int32())
		case kindUint32:
			f = float64(v.Uint32())
		case kindInt64:
			f = float64(v.Int64())
		case kindUint64:
			f = float64(v.Uint64())
		case kindFloat:
			f = float64(v.Float())
		case kindDouble:
			f = v.Double()
		}
		dst[j] = f
	}
	return 0, nil
}

// userIDs stores the user IDs of vals in ids, sharing one string per
// distinct ID, and returns the first bad row and its error, if any.
func (r *parquetReader) userIDs(vals []parquet.Value, c parquetColumn, ids []string) (int, error) {
	for j, v := range vals {
		if v.IsNull() {
			return j, errors.New("null user id")
		}
		var b []byte
		switch c.kind {
		case kindString:
			b = v.ByteArray()
		case kindInt32:
			b = strconv.AppendInt(r.idBuf[:0], int64(v.Int32()), 10)
		case kindUint32:
			b = strconv.AppendUint(r.idBuf[:0], uint64(v.Uint32()), 10)
		case kindInt64:
			b = strconv.AppendInt(r.idBuf[:0], v.Int64(), 10)
		case kindUint64:
			b = strconv.AppendUint(r.idBuf[:0], v.Uint64(), 10)
		}
		if len(b) == 0 {
			return j, errors.New("empty user id")
		}
		if c.kind != kindString {
			r.idBuf = b
		}
		if r.lastID == nil || !bytes.Equal(b, r.lastID) {
			s, ok := r.intern[string(b)]
			if !ok {
				s = string(b)
				r.intern[s] = s
			}
			r.lastStr = s
			r.lastID = append(r.lastID[:0], b...)
		}
		ids[j] = r.lastStr
	}
	return 0, nil
}
