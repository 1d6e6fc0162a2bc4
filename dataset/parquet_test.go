package dataset

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// pqCol is one column of a test Parquet file.
type pqCol struct {
	name string
	node parquet.Node
}

// writeParquet writes rows (values in the order of cols; nil is null) to a
// Parquet file at path. parquet.Group orders the file's columns by name.
func writeParquet(t testing.TB, path string, cols []pqCol, rows [][]any, opts ...parquet.WriterOption) {
	t.Helper()
	group := parquet.Group{}
	for _, c := range cols {
		group[c.name] = c.node
	}
	schema := parquet.NewSchema("test", group)
	leaf := map[string]int{} // column name -> leaf index in the file
	for i, f := range schema.Fields() {
		leaf[f.Name()] = i
	}
	prows := make([]parquet.Row, len(rows))
	for r, vals := range rows {
		row := make(parquet.Row, len(cols))
		for i, c := range cols {
			j := leaf[c.name]
			def := 0
			var v parquet.Value
			switch x := vals[i].(type) {
			case nil:
				v = parquet.NullValue()
			case string:
				v = parquet.ByteArrayValue([]byte(x))
			default:
				v = parquet.ValueOf(x)
			}
			if c.node.Optional() && vals[i] != nil {
				def = 1
			}
			row[j] = v.Level(0, def, j)
		}
		prows[r] = row
	}
	var buf bytes.Buffer
	w := parquet.NewWriter(&buf, append([]parquet.WriterOption{schema}, opts...)...)
	if _, err := w.WriteRows(prows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func double() parquet.Node { return parquet.Leaf(parquet.DoubleType) }

// randomRows returns n rows over users u0..u(users-1), interleaved, with d
// double features and a double target, and the same data as CSV text with
// header user,x1..xd,y.
func randomRows(n, users, d int, seed uint64) ([]pqCol, [][]any, string) {
	rng := rand.New(rand.NewPCG(seed, 1))
	cols := []pqCol{{"user", parquet.Encoded(parquet.String(), &parquet.RLEDictionary)}}
	head := []string{"user"}
	for j := 1; j <= d; j++ {
		name := fmt.Sprintf("x%02d", j)
		node := double()
		if j == 1 {
			// Dictionary pages take the general path rather than the
			// direct read of plain doubles.
			node = parquet.Encoded(node, &parquet.RLEDictionary)
		}
		cols = append(cols, pqCol{name, node})
		head = append(head, name)
	}
	cols = append(cols, pqCol{"y", double()})
	head = append(head, "y")
	var csv strings.Builder
	csv.WriteString(strings.Join(head, ",") + "\n")
	rows := make([][]any, n)
	for r := range rows {
		row := []any{fmt.Sprintf("u%d", rng.IntN(users))}
		rec := []string{row[0].(string)}
		for j := 0; j <= d; j++ {
			v := rng.NormFloat64() * math.Pow(10, float64(rng.IntN(7)-3))
			row = append(row, v)
			rec = append(rec, strconv.FormatFloat(v, 'g', -1, 64))
		}
		rows[r] = row
		csv.WriteString(strings.Join(rec, ",") + "\n")
	}
	return cols, rows, csv.String()
}

func readCSVString(t *testing.T, s string, opt CSVOptions) *Dataset {
	t.Helper()
	ds, err := ReadCSV(context.Background(), strings.NewReader(s), "test.csv", opt)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// TestReadParquetMatchesCSV reads the same data from CSV and Parquet, over
// several row groups and pages, compressions and column selections, and
// wants identical Datasets.
func TestReadParquetMatchesCSV(t *testing.T) {
	cols, rows, csv := randomRows(3000, 7, 4, 1)
	dir := t.TempDir()
	files := []struct {
		name string
		opts []parquet.WriterOption
	}{
		{"plain.parquet", nil},
		{"groups.parquet", []parquet.WriterOption{parquet.MaxRowsPerRowGroup(700), parquet.PageBufferSize(2048)}},
		{"snappy.parquet", []parquet.WriterOption{parquet.Compression(&parquet.Snappy), parquet.PageBufferSize(1000)}},
		{"zstd.PARQUET", []parquet.WriterOption{parquet.Compression(&parquet.Zstd), parquet.MaxRowsPerRowGroup(1024)}},
	}
	options := []CSVOptions{
		{},
		{RequireTarget: true},
		{Features: []string{"x03", "x01"}},
		{Ignore: []string{"x02"}},
		{TargetColumn: "x04"},
		{UserColumn: "user", TargetColumn: "none"},
	}
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		writeParquet(t, path, cols, rows, f.opts...)
		for _, opt := range options {
			t.Run(fmt.Sprintf("%s/%+v", f.name, opt), func(t *testing.T) {
				want := readCSVString(t, csv, opt)
				got, err := ReadParquetFile(context.Background(), path, opt)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("Parquet and CSV datasets differ: %d vs %d users, features %v vs %v",
						len(got.Users), len(want.Users), got.Features, want.Features)
				}
			})
		}
	}
}

// TestReadParquetDirectory reads a directory of two files as one data set
// and wants the Dataset of the two CSV parts concatenated.
func TestReadParquetDirectory(t *testing.T) {
	cols, rows, csv := randomRows(2500, 5, 3, 2)
	dir := t.TempDir()
	writeParquet(t, filepath.Join(dir, "part-1.parquet"), cols, rows[1200:], parquet.MaxRowsPerRowGroup(500))
	writeParquet(t, filepath.Join(dir, "part-0.parquet"), cols, rows[:1200])
	writeParquet(t, filepath.Join(dir, "part-2.parquet"), cols, nil) // empty part
	// Not part of the data set: hidden, underscore, other extensions, subdirectories.
	writeParquet(t, filepath.Join(dir, ".hidden.parquet"), cols, rows[:5])
	writeParquet(t, filepath.Join(dir, "_tmp.parquet"), cols, rows[:5])
	writeParquet(t, filepath.Join(dir, "part-3.parquet.crc"), cols, rows[:5])
	if err := os.Mkdir(filepath.Join(dir, "sub.parquet"), 0o755); err != nil {
		t.Fatal(err)
	}
	files, err := ParquetFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := []string{filepath.Join(dir, "part-0.parquet"), filepath.Join(dir, "part-1.parquet"), filepath.Join(dir, "part-2.parquet")}
	if !reflect.DeepEqual(files, wantFiles) {
		t.Fatalf("ParquetFiles = %v, want %v", files, wantFiles)
	}
	got, err := ReadParquetFile(context.Background(), dir, CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := readCSVString(t, csv, CSVOptions{})
	if !reflect.DeepEqual(got, want) {
		t.Fatal("directory and CSV datasets differ")
	}
	if got.Rows() != 2500 {
		t.Fatalf("Rows() = %d, want 2500", got.Rows())
	}

	// Errors name the file.
	bad := []pqCol{{"user", parquet.String()}, {"x01", double()}, {"x02", double()}, {"y", double()}}
	writeParquet(t, filepath.Join(dir, "part-4.parquet"), bad, [][]any{{"a", 1.0, 2.0, 3.0}})
	_, err = ReadParquetFile(context.Background(), dir, CSVOptions{})
	wantErr(t, err, "part-4.parquet", "feature columns x01,x02 differ from x01,x02,x03")
	os.Remove(filepath.Join(dir, "part-4.parquet"))
	noTarget := []pqCol{{"user", parquet.String()}, {"x01", double()}, {"x02", double()}, {"x03", double()}}
	writeParquet(t, filepath.Join(dir, "part-4.parquet"), noTarget, [][]any{{"a", 1.0, 2.0, 3.0}})
	_, err = ReadParquetFile(context.Background(), dir, CSVOptions{})
	wantErr(t, err, "part-4.parquet", `target column "y" present in only one`)

	empty := t.TempDir()
	os.WriteFile(filepath.Join(empty, "data.csv"), []byte("user,x,y\n"), 0o644)
	_, err = ReadParquetFile(context.Background(), empty, CSVOptions{})
	wantErr(t, err, empty, "no *.parquet files")
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not contain %q", err, p)
		}
	}
}

// TestReadParquetTypes reads columns of every supported physical type and
// checks the values exactly.
func TestReadParquetTypes(t *testing.T) {
	cols := []pqCol{
		{"uid", parquet.Int(32)},
		{"f32", parquet.Leaf(parquet.FloatType)},
		{"i32", parquet.Int(32)},
		{"u32", parquet.Uint(32)},
		{"u64", parquet.Uint(64)},
		{"flag", parquet.Leaf(parquet.BooleanType)},
		{"opt", parquet.Optional(double())},
		{"target", parquet.Int(64)},
	}
	rows := [][]any{
		{int32(-7), float32(0.1), int32(-3), uint32(4000000000), uint64(1 << 60), true, 2.5, int64(1) << 40},
		{int32(12), float32(-1.5e20), int32(math.MaxInt32), uint32(0), uint64(math.MaxUint64), false, math.Copysign(0, -1), int64(-9)},
		{int32(-7), float32(3), int32(math.MinInt32), uint32(1), uint64(0), true, 1e300, int64(0)},
	}
	path := filepath.Join(t.TempDir(), "typed.parquet")
	writeParquet(t, path, cols, rows)
	got, err := ReadParquetFile(context.Background(), path, CSVOptions{UserColumn: "uid", TargetColumn: "target", RequireTarget: true})
	if err != nil {
		t.Fatal(err)
	}
	// Columns in file (name) order: f32, flag, i32, opt, u32, u64.
	want := &Dataset{
		Features:  []string{"f32", "flag", "i32", "opt", "u32", "u64"},
		HasTarget: true,
		Users: []User{
			{ID: "-7", X: []float64{float64(float32(0.1)), 1, -3, 2.5, 4e9, 1 << 60, 3, 1, math.MinInt32, 1e300, 1, 0}, Y: []float64{1 << 40, 0}, Rows: []int{0, 2}},
			{ID: "12", X: []float64{float64(float32(-1.5e20)), 0, math.MaxInt32, 0, 0, math.MaxUint64}, Y: []float64{-9}, Rows: []int{1}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}

	// 64-bit and unsigned user IDs print as decimal numbers.
	ids := []pqCol{{"user", parquet.Uint(64)}, {"x", double()}}
	writeParquet(t, path, ids, [][]any{{uint64(math.MaxUint64), 1.0}, {uint64(0), 2.0}})
	got, err = ReadParquetFile(context.Background(), path, CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Users[0].ID != "18446744073709551615" || got.Users[1].ID != "0" || got.HasTarget {
		t.Fatalf("got users %q, %q, target %v", got.Users[0].ID, got.Users[1].ID, got.HasTarget)
	}
}

// TestReadParquetErrors wants a clear error naming the file, the 1-based
// data row and the column for each kind of bad input.
func TestReadParquetErrors(t *testing.T) {
	std := []pqCol{{"user", parquet.String()}, {"x", parquet.Optional(double())}, {"y", double()}}
	ok := func(n int) [][]any {
		rows := make([][]any, n)
		for i := range rows {
			rows[i] = []any{"u" + strconv.Itoa(i%3), float64(i), 1.0}
		}
		return rows
	}
	with := func(rows [][]any, r, c int, v any) [][]any {
		rows[r][c] = v
		return rows
	}
	tests := []struct {
		name string
		cols []pqCol
		rows [][]any
		opt  CSVOptions
		want []string
	}{
		{"missing user", std, ok(3), CSVOptions{UserColumn: "id"}, []string{`missing user column "id" (columns: user,x,y)`}},
		{"missing target", std, ok(3), CSVOptions{TargetColumn: "t", RequireTarget: true}, []string{`missing target column "t"`}},
		{"missing feature", std, ok(3), CSVOptions{Features: []string{"z"}}, []string{`missing feature column "z"`}},
		{"feature is user", std, ok(3), CSVOptions{Features: []string{"user"}}, []string{`feature column "user" is also the user or target column`}},
		{"missing ignored", std, ok(3), CSVOptions{Ignore: []string{"z"}}, []string{`ignored column "z" is not in the file`}},
		{"no features", std, ok(3), CSVOptions{Ignore: []string{"x"}}, []string{"no feature columns"}},
		{"null feature", std, with(ok(3000), 2500, 1, nil), CSVOptions{}, []string{`row 2501: column "x": null value`}},
		{"null user", []pqCol{{"user", parquet.Optional(parquet.String())}, {"x", double()}}, with(ok(5), 3, 0, nil), CSVOptions{}, []string{`row 4: column "user": null user id`}},
		{"empty user", std, with(ok(5), 1, 0, ""), CSVOptions{}, []string{`row 2: column "user": empty user id`}},
		{"NaN", std, with(ok(2000), 1500, 2, math.NaN()), CSVOptions{}, []string{`row 1501: column "y": value NaN is not finite`}},
		{"Inf", std, with(ok(5), 4, 1, math.Inf(-1)), CSVOptions{}, []string{`row 5: column "x": value -Inf is not finite`}},
		// In one row, the first bad column counts, as in CSV; across rows the first row.
		{"earliest", std, with(with(with(ok(5), 3, 2, math.NaN()), 3, 1, nil), 4, 0, ""), CSVOptions{}, []string{`row 4: column "x": null value`}},
		{"NaN before null", []pqCol{{"user", parquet.String()}, {"a", double()}, {"b", parquet.Optional(double())}}, [][]any{{"u", 1.0, 2.0}, {"u", math.NaN(), nil}}, CSVOptions{}, []string{`row 2: column "a": value NaN is not finite`}},
		{"string feature", []pqCol{{"user", parquet.String()}, {"x", parquet.String()}}, [][]any{{"a", "1.5"}}, CSVOptions{}, []string{`column "x": type STRING holds strings; feature and target columns must be numeric`}},
		{"binary feature", []pqCol{{"user", parquet.String()}, {"x", parquet.Leaf(parquet.ByteArrayType)}}, [][]any{{"a", "1.5"}}, CSVOptions{}, []string{`column "x": type BYTE_ARRAY holds strings`}},
		{"timestamp", []pqCol{{"user", parquet.String()}, {"x", parquet.Timestamp(parquet.Millisecond)}}, [][]any{{"a", int64(5)}}, CSVOptions{}, []string{`column "x": type TIMESTAMP`, "not supported"}},
		{"decimal", []pqCol{{"user", parquet.String()}, {"x", parquet.Decimal(2, 9, parquet.Int32Type)}}, [][]any{{"a", int32(5)}}, CSVOptions{}, []string{`column "x": type DECIMAL`, "not supported"}},
		{"float user", []pqCol{{"user", double()}, {"x", double()}}, [][]any{{1.0, 1.0}}, CSVOptions{}, []string{`column "user": type DOUBLE cannot be a user ID`}},
		{"list feature", []pqCol{{"user", parquet.String()}, {"x", parquet.Repeated(double())}}, nil, CSVOptions{}, []string{`column "x" is repeated`}},
		{"max rows", std, ok(3000), CSVOptions{MaxRows: 2999}, []string{"more than 2999 data rows"}},
		{"no rows", std, nil, CSVOptions{}, []string{"no data rows"}},
	}
	dir := t.TempDir()
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("bad%d.parquet", i))
			writeParquet(t, path, tc.cols, tc.rows, parquet.MaxRowsPerRowGroup(1000))
			ds, err := ReadParquetFile(context.Background(), path, tc.opt)
			if ds != nil {
				t.Fatalf("got a Dataset with an error %v", err)
			}
			wantErr(t, err, append([]string{path + ": "}, tc.want...)...)
		})
	}
}

// TestReadParquetMaxRowsLying checks that MaxRows holds while reading even
// when checked against the rows actually read rather than the footer.
func TestReadParquetMaxRows(t *testing.T) {
	cols, rows, _ := randomRows(100, 3, 2, 3)
	dir := t.TempDir()
	writeParquet(t, filepath.Join(dir, "a.parquet"), cols, rows[:60])
	writeParquet(t, filepath.Join(dir, "b.parquet"), cols, rows[60:])
	if _, err := ReadParquetFile(context.Background(), dir, CSVOptions{MaxRows: 100}); err != nil {
		t.Fatalf("MaxRows 100 of 100: %v", err)
	}
	_, err := ReadParquetFile(context.Background(), dir, CSVOptions{MaxRows: 99})
	wantErr(t, err, "b.parquet", "more than 99 data rows")
}

// TestReadParquetTruncated cuts a valid file at many lengths and wants an
// error naming the file from each, never a panic or a Dataset.
func TestReadParquetTruncated(t *testing.T) {
	cols, rows, _ := randomRows(400, 4, 3, 4)
	dir := t.TempDir()
	src := filepath.Join(dir, "whole.parquet")
	writeParquet(t, src, cols, rows, parquet.MaxRowsPerRowGroup(150), parquet.Compression(&parquet.Snappy), parquet.PageBufferSize(512))
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "cut.parquet")
	for n := 0; n < len(data); n += 1 + n/16 {
		if err := os.WriteFile(path, data[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		ds, err := ReadParquetFile(context.Background(), path, CSVOptions{})
		if err == nil || ds != nil {
			t.Fatalf("file cut at %d of %d bytes: got no error", n, len(data))
		}
		if !strings.Contains(err.Error(), path) {
			t.Fatalf("cut at %d: error %q does not name the file", n, err)
		}
	}
	// Corrupt the file three more ways, none of which may panic or return
	// a Dataset without an error being due: cut bytes out of the middle
	// keeping the footer (its offsets then point at the wrong bytes), and
	// flip bytes in the data pages or in the footer (the schema and row
	// group metadata). Page bytes carry a CRC-32, so damage to them is an
	// error; damage elsewhere may leave a readable file (the page index is
	// not read; a footer flip may hit a statistic or a name), which is then
	// checked against the original data.
	footer := len(data) - 8 - int(binary.LittleEndian.Uint32(data[len(data)-8:]))
	want, err := ReadParquetFile(context.Background(), src, CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 5))
	recovered := 0
	for i := 0; i < 300; i++ {
		var bad []byte
		mode := i % 3
		switch mode {
		case 0:
			k := 4 + rng.IntN(footer-4)
			bad = append(bytes.Clone(data[:k]), data[k+1+rng.IntN(footer-k):]...)
		case 1:
			bad = bytes.Clone(data)
			bad[4+rng.IntN(footer-4)] ^= byte(1 + rng.IntN(255))
		case 2:
			bad = bytes.Clone(data)
			for k := 0; k < 1+rng.IntN(3); k++ {
				bad[footer+rng.IntN(len(data)-8-footer)] ^= byte(1 + rng.IntN(255))
			}
		}
		if err := os.WriteFile(path, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		ds, err := ReadParquetFile(context.Background(), path, CSVOptions{})
		switch {
		case err != nil:
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("corruption %d: error %q does not name the file", i, err)
			}
			if strings.Contains(err.Error(), "malformed Parquet file") {
				recovered++
			}
		case reflect.DeepEqual(ds, want):
			// The damage hit bytes that are not read, such as the page
			// index between the data and the footer.
		case mode != 2:
			t.Fatalf("corruption %d (mode %d): got no error and different data", i, mode)
		default:
			// A footer flip that changes names or types yields a different
			// but valid reading; it must at least keep the shape.
			if ds.Samples() != want.Samples() || ds.Dim() != want.Dim() {
				t.Fatalf("corruption %d: read %d samples of dimension %d, want %d of %d",
					i, ds.Samples(), ds.Dim(), want.Samples(), want.Dim())
			}
		}
	}
	t.Logf("%d of 300 corruptions made the library panic (recovered as errors)", recovered)
}

// TestReadParquetLibraryPanic feeds a 44-byte file whose footer declares a
// DECIMAL column of FIXED_LEN_BYTE_ARRAY without a length, on which
// parquet.OpenFile (v0.32.0) panics, and wants an error naming the file.
func TestReadParquetLibraryPanic(t *testing.T) {
	md := format.FileMetaData{Version: 1, Schema: []format.SchemaElement{
		{Name: "root", NumChildren: thrift.New(int32(1))},
		{Name: "x", Type: thrift.New(format.FixedLenByteArray), RepetitionType: thrift.New(format.Required),
			ConvertedType: thrift.New(deprecated.Decimal), Scale: thrift.New(int32(2)), Precision: thrift.New(int32(5))},
	}}
	footer, err := thrift.Marshal(new(thrift.CompactProtocol), &md)
	if err != nil {
		t.Fatal(err)
	}
	data := append([]byte("PAR1"), footer...)
	data = binary.LittleEndian.AppendUint32(data, uint32(len(footer)))
	data = append(data, "PAR1"...)
	path := filepath.Join(t.TempDir(), "decimal.parquet")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ReadParquetFile(context.Background(), path, CSVOptions{})
	wantErr(t, err, path+": malformed Parquet file: DECIMAL")
}

// TestReadParquetCancel wants a cancelled context to stop reading with an
// error that wraps context.Canceled.
func TestReadParquetCancel(t *testing.T) {
	cols, rows, _ := randomRows(100, 3, 2, 6)
	path := filepath.Join(t.TempDir(), "c.parquet")
	writeParquet(t, path, cols, rows)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := ReadParquetFile(ctx, path, CSVOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

// TestReadParquetProgress wants Progress to count up to the declared total.
func TestReadParquetProgress(t *testing.T) {
	cols, rows, _ := randomRows(5000, 3, 2, 7)
	dir := t.TempDir()
	writeParquet(t, filepath.Join(dir, "a.parquet"), cols, rows[:3000], parquet.MaxRowsPerRowGroup(1000))
	writeParquet(t, filepath.Join(dir, "b.parquet"), cols, rows[3000:])
	files, err := ParquetFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	var last, calls int64
	_, err = ReadParquet(context.Background(), files, ParquetOptions{Progress: func(done, total int64) {
		if total != 5000 || done < last || done > total {
			t.Errorf("progress(%d, %d) after %d", done, total, last)
		}
		last = done
		calls++
	}})
	if err != nil {
		t.Fatal(err)
	}
	if last != 5000 || calls < 5 {
		t.Fatalf("progress ended at %d after %d calls", last, calls)
	}
}

func TestIsParquetPath(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"data.parquet", true},
		{"DATA.Parquet", true},
		{"data.csv", false},
		{"data.parquet.csv", false},
		{dir, true},
		{filepath.Join(dir, "missing"), false},
	} {
		if got := IsParquetPath(tc.path); got != tc.want {
			t.Errorf("IsParquetPath(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
}

// benchData holds the 1e6-row benchmark files, written once per process.
var benchData struct {
	once     sync.Once
	dir      string
	csv, pq  string
	err      error
	csvBytes int64
	pqBytes  int64
}

// BenchmarkReadData reads the same 1e6 rows (20,000 users, d = 20, values
// with 6 significant digits) from CSV and from a Snappy-compressed Parquet
// file. SetBytes is each file's size, so MB/s is the read rate of the file.
func BenchmarkReadData(b *testing.B) {
	const n, users, d = 1_000_000, 20_000, 20
	benchData.once.Do(func() {
		dir, err := os.MkdirTemp("", "lrsp-bench-")
		if err != nil {
			benchData.err = err
			return
		}
		benchData.dir = dir
		rng := rand.New(rand.NewPCG(1, 2))
		cols := []pqCol{{"user", parquet.String()}}
		head := []string{"user"}
		for j := 1; j <= d; j++ {
			cols = append(cols, pqCol{fmt.Sprintf("x%02d", j), double()})
			head = append(head, fmt.Sprintf("x%02d", j))
		}
		cols = append(cols, pqCol{"y", double()})
		head = append(head, "y")
		var csv bytes.Buffer
		csv.WriteString(strings.Join(head, ",") + "\n")
		rows := make([][]any, n)
		rec := make([]string, d+2)
		for r := range rows {
			row := make([]any, d+2)
			id := "user" + strconv.Itoa(r/(n/users))
			row[0], rec[0] = id, id
			for j := 1; j < d+2; j++ {
				v, _ := strconv.ParseFloat(strconv.FormatFloat(rng.NormFloat64(), 'g', 6, 64), 64)
				row[j], rec[j] = v, strconv.FormatFloat(v, 'g', -1, 64)
			}
			rows[r] = row
			csv.WriteString(strings.Join(rec, ",") + "\n")
		}
		benchData.csv = filepath.Join(dir, "bench.csv")
		benchData.pq = filepath.Join(dir, "bench.parquet")
		if err := os.WriteFile(benchData.csv, csv.Bytes(), 0o644); err != nil {
			benchData.err = err
			return
		}
		writeParquet(b, benchData.pq, cols, rows, parquet.Compression(&parquet.Snappy))
		for _, f := range []struct {
			p    string
			size *int64
		}{{benchData.csv, &benchData.csvBytes}, {benchData.pq, &benchData.pqBytes}} {
			st, err := os.Stat(f.p)
			if err != nil {
				benchData.err = err
				return
			}
			*f.size = st.Size()
		}
	})
	if benchData.err != nil {
		b.Fatal(benchData.err)
	}
	ctx := context.Background()
	b.Run("format=csv", func(b *testing.B) {
		b.SetBytes(benchData.csvBytes)
		for b.Loop() {
			if _, err := ReadCSVFile(ctx, benchData.csv, CSVOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("format=parquet", func(b *testing.B) {
		b.SetBytes(benchData.pqBytes)
		for b.Loop() {
			if _, err := ReadParquetFile(ctx, benchData.pq, CSVOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchData.dir != "" {
		os.RemoveAll(benchData.dir)
	}
	os.Exit(code)
}
