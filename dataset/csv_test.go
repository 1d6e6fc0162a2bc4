package dataset_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lrsp/lrsp/dataset"
)

func read(t *testing.T, in string, opt dataset.CSVOptions) *dataset.Dataset {
	t.Helper()
	ds, err := dataset.ReadCSV(context.Background(), strings.NewReader(in), "data.csv", opt)
	if err != nil {
		t.Fatalf("ReadCSV: %v", err)
	}
	return ds
}

// TestReadCSVErrors checks that every kind of bad input is an error that
// names the file, the line (when there is one) and the offending column.
func TestReadCSVErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		opt  dataset.CSVOptions
		want []string // substrings of the error message
	}{
		{"empty file", "", dataset.CSVOptions{}, []string{"data.csv: ", "empty file"}},
		{"only blank lines", "\n\n", dataset.CSVOptions{}, []string{"data.csv: ", "empty file"}},
		{"header only", "user,x,y\n", dataset.CSVOptions{}, []string{"data.csv: ", "no data rows"}},
		{"bad number in feature", "user,x1,x2,y\na,1,2,3\nb,1,abc,3\n", dataset.CSVOptions{},
			[]string{"data.csv:3:", `column "x2"`, `bad number "abc"`}},
		{"bad number in target", "user,x1,y\na,1,2\na,1,1..5\n", dataset.CSVOptions{},
			[]string{"data.csv:3:", `column "y"`, `bad number "1..5"`}},
		{"empty number", "user,x1,y\na,,2\n", dataset.CSVOptions{}, []string{"data.csv:2:", `column "x1"`, `missing value ""`}},
		{"line number counts blank lines", "user,x1,y\na,1,2\n\nb,zz,1\n", dataset.CSVOptions{},
			[]string{"data.csv:4:", `column "x1"`, `"zz"`}},
		{"line number counts quoted newlines", "user,x1,y\n\"a\nb\",1,2\nc,1,q\n", dataset.CSVOptions{},
			[]string{"data.csv:4:", `column "y"`, `"q"`}},
		{"missing user column", "id,x,y\na,1,2\n", dataset.CSVOptions{}, []string{"data.csv:1:", `missing user column "user"`}},
		{"missing custom user column", "user,x,y\na,1,2\n", dataset.CSVOptions{UserColumn: "uid"},
			[]string{"data.csv:1:", `missing user column "uid"`}},
		{"missing required target", "user,x,z\na,1,2\n", dataset.CSVOptions{RequireTarget: true},
			[]string{"data.csv:1:", `missing target column "y"`}},
		{"missing custom target", "user,x,y\na,1,2\n", dataset.CSVOptions{TargetColumn: "label", RequireTarget: true},
			[]string{"data.csv:1:", `missing target column "label"`}},
		{"missing feature column", "user,x1,x2,y\na,1,2,3\n", dataset.CSVOptions{Features: []string{"x1", "x3"}},
			[]string{"data.csv:1:", `missing feature column "x3"`}},
		{"feature is the user column", "user,x1,y\na,1,2\n", dataset.CSVOptions{Features: []string{"user"}},
			[]string{"data.csv:1:", `feature column "user"`}},
		{"feature is the target column", "user,x1,y\na,1,2\n", dataset.CSVOptions{Features: []string{"x1", "y"}},
			[]string{"data.csv:1:", `feature column "y"`}},
		{"ignored column not in header", "user,x1,y\na,1,2\n", dataset.CSVOptions{Ignore: []string{"x9"}},
			[]string{"data.csv:1:", `ignored column "x9"`}},
		{"no feature columns", "user,y\na,1\n", dataset.CSVOptions{}, []string{"data.csv:1:", "no feature columns"}},
		{"everything ignored", "user,x1,y\na,1,2\n", dataset.CSVOptions{Ignore: []string{"x1"}},
			[]string{"data.csv:1:", "no feature columns"}},
		{"ragged row short", "user,x1,x2,y\na,1,2,3\nb,1,2\n", dataset.CSVOptions{},
			[]string{"data.csv:3:", "ragged row", "3 fields", "header has 4"}},
		{"ragged row long", "user,x1,y\na,1,2\na,1,2,3\n", dataset.CSVOptions{},
			[]string{"data.csv:3:", "ragged row", "4 fields", "header has 3"}},
		{"duplicate header", "user,x1,x2,x1,y\na,1,2,3,4\n", dataset.CSVOptions{},
			[]string{"data.csv:1:", `duplicate column "x1"`, "columns 2 and 4"}},
		{"duplicate header after trimming", "user, x1,x1 ,y\na,1,2,3\n", dataset.CSVOptions{},
			[]string{"data.csv:1:", `duplicate column "x1"`}},
		{"empty column name", "user,,y\na,1,2\n", dataset.CSVOptions{}, []string{"data.csv:1:", "column 2 has an empty name"}},
		{"NaN feature", "user,x1,y\na,NaN,2\n", dataset.CSVOptions{}, []string{"data.csv:2:", `column "x1"`, `"NaN" is not finite`}},
		{"nan lower case", "user,x1,y\na,1,2\nb,nan,2\n", dataset.CSVOptions{}, []string{"data.csv:3:", `"nan" is not finite`}},
		{"Inf feature", "user,x1,y\na,Inf,2\n", dataset.CSVOptions{}, []string{"data.csv:2:", `column "x1"`, "not finite"}},
		{"-Infinity feature", "user,x1,y\na,-Infinity,2\n", dataset.CSVOptions{}, []string{"data.csv:2:", "not finite"}},
		{"+inf target", "user,x1,y\na,1,+inf\n", dataset.CSVOptions{}, []string{"data.csv:2:", `column "y"`, "not finite"}},
		{"overflow", "user,x1,y\na,1e400,1\n", dataset.CSVOptions{}, []string{"data.csv:2:", `column "x1"`, `"1e400"`}},
		{"empty user id", "user,x1,y\na,1,2\n,1,2\n", dataset.CSVOptions{}, []string{"data.csv:3:", `empty user id in column "user"`}},
		{"carriage return in user id", "user,x1,y\na,1,2\n\"b\r\r\nc\",1,2\n", dataset.CSVOptions{},
			[]string{"data.csv:3:", `user id "b\r\nc" contains a carriage return`}},
		{"carriage return in column name", "user,\"x\ry\",y\na,1,2\n", dataset.CSVOptions{},
			[]string{"data.csv:1:", `column 2 name "x\ry" contains a carriage return`}},
		{"bare quote", "user,x1,y\na\"b,1,2\n", dataset.CSVOptions{}, []string{"data.csv: ", "line 2", "column 2", "bare"}},
		{"unterminated quote", "user,x1,y\n\"a,1,2\n", dataset.CSVOptions{}, []string{"data.csv: ", "line 2", "quote"}},
		{"max rows", "user,x1,y\na,1,2\nb,1,2\nc,1,2\n", dataset.CSVOptions{MaxRows: 2},
			[]string{"data.csv:4:", "more than 2 data rows"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := dataset.ReadCSV(context.Background(), strings.NewReader(tc.in), "data.csv", tc.opt)
			if err == nil {
				t.Fatalf("ReadCSV accepted bad input, got %d users", len(ds.Users))
			}
			if !strings.HasPrefix(err.Error(), "dataset: data.csv") {
				t.Errorf("error %q does not start with the package and file name", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestReadCSVSelection(t *testing.T) {
	const in = "\ufeffuser,a,b,y,c,note\nu1,1,2,3,4,5\nu2,5,6,7,8,9\nu1,-1,-2,-3,-4,-5\n"
	tests := []struct {
		name      string
		in        string
		opt       dataset.CSVOptions
		features  []string
		hasTarget bool
		x0        []float64 // first sample of the first user
	}{
		{"all columns (BOM stripped)", in, dataset.CSVOptions{}, []string{"a", "b", "c", "note"}, true, []float64{1, 2, 4, 5}},
		{"features in given order", in, dataset.CSVOptions{Features: []string{"c", "a"}}, []string{"c", "a"}, true, []float64{4, 1}},
		{"ignore", in, dataset.CSVOptions{Ignore: []string{"note", "b"}}, []string{"a", "c"}, true, []float64{1, 4}},
		{"custom columns", "y,id,a,label\n9,u1,1,2\n", dataset.CSVOptions{UserColumn: "id", TargetColumn: "label"}, []string{"y", "a"}, true, []float64{9, 1}},
		{"no target column", "user,a,b\nu1,1,2\n", dataset.CSVOptions{}, []string{"a", "b"}, false, []float64{1, 2}},
		{"spaces around numbers and names", "user , a ,y\nu1, 1.5 ,\t2\n", dataset.CSVOptions{}, []string{"a"}, true, []float64{1.5}},
		{"CRLF line ends", "user,a,y\r\nu1,1,2\r\n", dataset.CSVOptions{}, []string{"a"}, true, []float64{1}},
		{"max rows not exceeded", "user,a,y\nu1,1,2\nu2,3,4\n", dataset.CSVOptions{MaxRows: 2}, []string{"a"}, true, []float64{1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds := read(t, tc.in, tc.opt)
			if !slices.Equal(ds.Features, tc.features) {
				t.Errorf("features %q, want %q", ds.Features, tc.features)
			}
			if ds.HasTarget != tc.hasTarget {
				t.Errorf("HasTarget %v, want %v", ds.HasTarget, tc.hasTarget)
			}
			if tc.x0 != nil && !slices.Equal(ds.Users[0].X[:ds.Dim()], tc.x0) {
				t.Errorf("first sample %v, want %v", ds.Users[0].X[:ds.Dim()], tc.x0)
			}
			if !tc.hasTarget && ds.Users[0].Y != nil {
				t.Errorf("Y = %v without a target column", ds.Users[0].Y)
			}
		})
	}
}

func TestReadCSVGroupsUsers(t *testing.T) {
	ds := read(t, "user,a,y\nu2,1,10\nu1,2,20\nu2,3,30\nu3,4,40\nu1,5,50\n", dataset.CSVOptions{})
	want := []struct {
		id   string
		x, y []float64
		rows []int
	}{
		{"u2", []float64{1, 3}, []float64{10, 30}, []int{0, 2}},
		{"u1", []float64{2, 5}, []float64{20, 50}, []int{1, 4}},
		{"u3", []float64{4}, []float64{40}, []int{3}},
	}
	if len(ds.Users) != len(want) {
		t.Fatalf("%d users, want %d", len(ds.Users), len(want))
	}
	for i, w := range want {
		u := ds.Users[i]
		if u.ID != w.id || !slices.Equal(u.X, w.x) || !slices.Equal(u.Y, w.y) || !slices.Equal(u.Rows, w.rows) {
			t.Errorf("user %d = %+v, want %+v", i, u, w)
		}
	}
	if ds.Rows() != 5 || ds.Samples() != 5 {
		t.Errorf("Rows %d Samples %d, want 5 and 5", ds.Rows(), ds.Samples())
	}
	if idx := ds.Index(); idx["u1"] != 1 || idx["u3"] != 2 || len(idx) != 3 {
		t.Errorf("Index = %v", idx)
	}
}

func TestReadCSVCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := dataset.ReadCSV(ctx, strings.NewReader("user,a,y\nu,1,2\n"), "data.csv", dataset.CSVOptions{})
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "dataset: data.csv:2:") {
		t.Fatalf("err = %v, want context.Canceled at data.csv:2", err)
	}
}

func TestReadCSVFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "d.csv")
	if err := os.WriteFile(path, []byte("user,a,y\nu,1,2\nu,x,3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := dataset.ReadCSVFile(context.Background(), path, dataset.CSVOptions{})
	if err == nil || !strings.HasPrefix(err.Error(), "dataset: "+path+":3:") {
		t.Fatalf("err = %v, want an error at %s:3", err, path)
	}
	missing := filepath.Join(dir, "missing.csv")
	_, err = dataset.ReadCSVFile(context.Background(), missing, dataset.CSVOptions{})
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("err = %v, want a not-exist error naming %s", err, missing)
	}
}

// sameDataset returns a description of the first difference between a and
// b, comparing floats bit for bit, or "" when they are identical.
func sameDataset(a, b *dataset.Dataset) string {
	if !slices.Equal(a.Features, b.Features) {
		return fmt.Sprintf("features %q vs %q", a.Features, b.Features)
	}
	if a.HasTarget != b.HasTarget {
		return fmt.Sprintf("HasTarget %v vs %v", a.HasTarget, b.HasTarget)
	}
	if len(a.Users) != len(b.Users) {
		return fmt.Sprintf("%d vs %d users", len(a.Users), len(b.Users))
	}
	bits := func(v []float64) []uint64 {
		out := make([]uint64, len(v))
		for i, x := range v {
			out[i] = math.Float64bits(x)
		}
		return out
	}
	for i := range a.Users {
		u, v := &a.Users[i], &b.Users[i]
		switch {
		case u.ID != v.ID:
			return fmt.Sprintf("user %d: ID %q vs %q", i, u.ID, v.ID)
		case !slices.Equal(u.Rows, v.Rows):
			return fmt.Sprintf("user %q: rows %v vs %v", u.ID, u.Rows, v.Rows)
		case !slices.Equal(bits(u.X), bits(v.X)):
			return fmt.Sprintf("user %q: X %v vs %v", u.ID, u.X, v.X)
		case !slices.Equal(bits(u.Y), bits(v.Y)) || (u.Y == nil) != (v.Y == nil):
			return fmt.Sprintf("user %q: Y %v vs %v", u.ID, u.Y, v.Y)
		}
	}
	return ""
}

func roundTrip(t *testing.T, ds *dataset.Dataset) *dataset.Dataset {
	t.Helper()
	var buf bytes.Buffer
	if err := dataset.WriteCSV(&buf, ds); err != nil {
		t.Fatalf("WriteCSV: %v", err)
	}
	back, err := dataset.ReadCSV(context.Background(), &buf, "roundtrip.csv", dataset.CSVOptions{})
	if err != nil {
		t.Fatalf("re-read of WriteCSV output: %v\n%s", err, buf.String())
	}
	return back
}

func TestWriteCSVRoundTrip(t *testing.T) {
	awkward := []float64{0, math.Copysign(0, -1), 1.0 / 3, -math.Pi, math.MaxFloat64, -math.SmallestNonzeroFloat64,
		2.2250738585072014e-308, 1e-300, 123456789012345678, 0.1, 5e-324, math.Nextafter(1, 2)}
	// Spaces around an ID are trimmed on reading (see
	// TestReadCSVTrimsUserIDsAndNumbers): only inner spaces survive.
	ids := []string{"plain", "with,comma", `with "quotes"`, "inner space", "tab\tinside", "new\nline", "ünïcödé", `\.`, "#hash"}
	for _, target := range []bool{true, false} {
		t.Run(fmt.Sprintf("target=%v", target), func(t *testing.T) {
			b := dataset.NewBuilder([]string{"f one", "f,two", `f"3"`}, target)
			for row := 0; row < 40; row++ {
				x := []float64{awkward[row%len(awkward)], awkward[(row*7+3)%len(awkward)], float64(row) - 0.5}
				b.Add(ids[(row*5)%len(ids)], x, awkward[(row*3+1)%len(awkward)], row)
			}
			ds := b.Dataset()
			if diff := sameDataset(ds, roundTrip(t, ds)); diff != "" {
				t.Fatal(diff)
			}
		})
	}
}

func TestWriteCSVFormat(t *testing.T) {
	ds := read(t, "user,a,b,y\nu2,1,0.25,3\nu1,-0,1e-7,2\nu2,1e21,7,0.1\n", dataset.CSVOptions{})
	var buf bytes.Buffer
	if err := dataset.WriteCSV(&buf, ds); err != nil {
		t.Fatal(err)
	}
	const want = "user,a,b,y\nu2,1,0.25,3\nu1,-0,1e-07,2\nu2,1e+21,7,0.1\n"
	if buf.String() != want {
		t.Errorf("WriteCSV wrote\n%s\nwant\n%s", buf.String(), want)
	}
}

// varied returns a dataset whose users have the given sample counts, with
// samples interleaved across users and every value distinct.
func varied(counts []int) *dataset.Dataset {
	b := dataset.NewBuilder([]string{"a", "b"}, true)
	left := slices.Clone(counts)
	row := 0
	for more := true; more; {
		more = false
		for i, n := range left {
			if n == 0 {
				continue
			}
			left[i]--
			more = true
			b.Add(fmt.Sprintf("u%d", i), []float64{float64(row), float64(-row)}, float64(row)+0.5, row)
			row++
		}
	}
	return b.Dataset()
}

// rowsOf maps each user ID to the set of its input rows, checking that every
// sample's values are those varied gave that row.
func rowsOf(t *testing.T, ds *dataset.Dataset) map[string][]int {
	t.Helper()
	out := map[string][]int{}
	for _, u := range ds.Users {
		if len(u.X) != 2*u.Len() || len(u.Y) != u.Len() {
			t.Fatalf("user %q: %d x values, %d y values for %d samples", u.ID, len(u.X), len(u.Y), u.Len())
		}
		for j, r := range u.Rows {
			if u.X[2*j] != float64(r) || u.X[2*j+1] != float64(-r) || u.Y[j] != float64(r)+0.5 {
				t.Fatalf("user %q: sample %d of row %d has x=%v y=%v", u.ID, j, r, u.X[2*j:2*j+2], u.Y[j])
			}
		}
		out[u.ID] = u.Rows
	}
	return out
}

func TestSplit(t *testing.T) {
	counts := []int{1, 2, 3, 4, 10, 37, 50}
	ds := varied(counts)
	orig := rowsOf(t, ds)
	for _, fraction := range []float64{0, 0.1, 0.2, 0.5, 0.9, 0.99} {
		t.Run(fmt.Sprint(fraction), func(t *testing.T) {
			train, held, err := dataset.Split(ds, fraction, 7)
			if err != nil {
				t.Fatal(err)
			}
			tr, he := rowsOf(t, train), rowsOf(t, held)
			if len(tr) != len(counts) {
				t.Fatalf("%d training users, want all %d", len(tr), len(counts))
			}
			for i, m := range counts {
				id := fmt.Sprintf("u%d", i)
				if len(tr[id]) < 1 {
					t.Errorf("user %s has no training sample", id)
				}
				want := min(int(math.Round(fraction*float64(m))), m-1)
				if len(he[id]) != want {
					t.Errorf("user %s (%d samples) holds out %d, want %d", id, m, len(he[id]), want)
				}
				all := append(slices.Clone(tr[id]), he[id]...)
				slices.Sort(all)
				if !slices.Equal(all, orig[id]) {
					t.Errorf("user %s: train %v + held %v do not partition %v", id, tr[id], he[id], orig[id])
				}
				if !slices.IsSorted(tr[id]) || !slices.IsSorted(he[id]) {
					t.Errorf("user %s: parts are not in input order: %v %v", id, tr[id], he[id])
				}
			}
			again, againHeld, _ := dataset.Split(ds, fraction, 7)
			if d := sameDataset(train, again); d != "" {
				t.Errorf("same seed, different training part: %s", d)
			}
			if d := sameDataset(held, againHeld); d != "" {
				t.Errorf("same seed, different held-out part: %s", d)
			}
			if fraction == 0.5 {
				other, _, _ := dataset.Split(ds, fraction, 8)
				if sameDataset(train, other) == "" {
					t.Error("seeds 7 and 8 chose the same held-out samples for every user")
				}
			}
		})
	}
	// The parts share no memory with the input.
	train, _, _ := dataset.Split(ds, 0.5, 1)
	train.Users[0].X[0] = 1e9
	if ds.Users[0].X[0] == 1e9 {
		t.Error("Split's training part shares memory with its input")
	}
	for _, bad := range []float64{-0.1, 1, 1.5, math.NaN()} {
		if _, _, err := dataset.Split(ds, bad, 1); err == nil {
			t.Errorf("Split(fraction=%v) gave no error", bad)
		}
	}
}

func TestSubsample(t *testing.T) {
	counts := []int{1, 3, 5, 8, 20}
	ds := varied(counts)
	orig := rowsOf(t, ds)
	for _, n := range []int{0, 1, 4, 5, 100} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			sub := dataset.Subsample(ds, n, 3)
			got := rowsOf(t, sub)
			for i, m := range counts {
				id := fmt.Sprintf("u%d", i)
				if len(got[id]) != min(n, m) {
					t.Errorf("user %s (%d samples) keeps %d, want %d", id, m, len(got[id]), min(n, m))
				}
				if !slices.IsSorted(got[id]) {
					t.Errorf("user %s: kept rows %v are not in input order", id, got[id])
				}
				for _, r := range got[id] {
					if !slices.Contains(orig[id], r) {
						t.Errorf("user %s: kept row %d is not one of its rows", id, r)
					}
				}
			}
			if d := sameDataset(sub, dataset.Subsample(ds, n, 3)); d != "" {
				t.Errorf("same seed, different subsample: %s", d)
			}
		})
	}
	if sameDataset(dataset.Subsample(ds, 10, 3), dataset.Subsample(ds, 10, 4)) == "" {
		t.Error("seeds 3 and 4 kept the same 10 of 20 samples")
	}
}

// TestReadCSVTrimsUserIDsAndNumbers guards the one whitespace rule: spaces
// around a value are trimmed for user ids as for numbers (" u0" and "u0"
// were two users while " 1" and "1" were one number).
func TestReadCSVTrimsUserIDsAndNumbers(t *testing.T) {
	ds := read(t, "user,x,y\nu0,1,2\n u0, 3 ,4\n\"u0 \",5, 6\n\tu1\t,7,8\n", dataset.CSVOptions{})
	if len(ds.Users) != 2 || ds.Users[0].ID != "u0" || ds.Users[0].Len() != 3 || ds.Users[1].ID != "u1" {
		t.Fatalf("users %+v, want u0 with 3 samples and u1", ds.Users)
	}
	if !slices.Equal(ds.Users[0].X, []float64{1, 3, 5}) || !slices.Equal(ds.Users[0].Y, []float64{2, 4, 6}) {
		t.Errorf("u0: x %v y %v", ds.Users[0].X, ds.Users[0].Y)
	}
	// An ID of spaces only is empty.
	if _, err := dataset.ReadCSV(context.Background(), strings.NewReader("user,x,y\n  ,1,2\n"), "data.csv", dataset.CSVOptions{}); err == nil ||
		!strings.Contains(err.Error(), "data.csv:2: empty user id") {
		t.Errorf("blank ID: err %v", err)
	}
}

// TestReadCSVBoundsRecordLength guards against reading a huge field whole
// (a 2 GB field ran out of memory): a record longer than MaxLineBytes is an
// error naming the file and line after reading little more than the limit.
func TestReadCSVBoundsRecordLength(t *testing.T) {
	const limit = 1000
	tests := []struct {
		name  string
		in    string
		line  int
		fails bool
	}{
		{"long unquoted field", "user,x,y\na,1,2\nb," + strings.Repeat("9", 5000) + ",3\n", 3, true},
		{"long quoted field with newlines", "user,x,y\na,1,2\n\"" + strings.Repeat("a\n", 3000) + "\",1,2\n", 3, true},
		{"long header", strings.Repeat("c", 2000) + ",user,y\n1,a,2\n", 1, true},
		{"many short lines pass", "user,x,y\n" + strings.Repeat("a,1,2\n", 2000), 0, false},
		{"a record at the limit passes", "user,x,y\na,1," + strings.Repeat("0", limit-4) + "\n", 0, false},
		{"escaped quotes do not end a quoted field", "user,x,y\n\"a\"\"\n\",1,2\nb," + strings.Repeat("1", 2000) + ",2\n", 4, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &countReader{r: strings.NewReader(tt.in)}
			_, err := dataset.ReadCSV(context.Background(), r, "big.csv", dataset.CSVOptions{MaxLineBytes: limit})
			if !tt.fails {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			want := fmt.Sprintf("big.csv:%d: a record of more than %d bytes", tt.line, limit)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err %v, want %q", err, want)
			}
			if len(err.Error()) > 200 {
				t.Errorf("the message has %d bytes: %q", len(err.Error()), err)
			}
			// The reader stops soon after the limit (bufio reads ahead 4 KiB).
			if r.n > int64(len(tt.in)) || r.n > 2*limit+8192 {
				t.Errorf("read %d bytes of %d", r.n, len(tt.in))
			}
		})
	}
	// The default bound is 1 MiB; a negative MaxLineBytes removes it.
	huge := "user,x,y\na,1," + strings.Repeat("1", dataset.DefaultMaxLineBytes+10) + "\n"
	if _, err := dataset.ReadCSV(context.Background(), strings.NewReader(huge), "big.csv", dataset.CSVOptions{}); err == nil ||
		!strings.Contains(err.Error(), "big.csv:2: a record of more than 1048576 bytes") {
		t.Errorf("default bound: err %v", err)
	}
	if _, err := dataset.ReadCSV(context.Background(), strings.NewReader(huge), "big.csv", dataset.CSVOptions{MaxLineBytes: -1}); err == nil ||
		!strings.Contains(err.Error(), "bad number") {
		t.Errorf("no bound: err %v, want the value's own error", err)
	}
}

type countReader struct {
	r *strings.Reader
	n int64
}

func (c *countReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// TestReadCSVQuotesShortPrefix guards against echoing a huge bad value
// whole in the error message (a 200 MB field was).
func TestReadCSVQuotesShortPrefix(t *testing.T) {
	bad := "x" + strings.Repeat("é", 5000)
	for _, in := range []string{
		"user,v,y\na," + bad + ",1\n",          // a bad number
		"user,\"" + bad + "\",y\na,1,2\na,1\n", // a ragged row does not quote, a header name is listed
		"id," + bad + ",y\na,1,2\n",            // a missing user column lists the header
	} {
		_, err := dataset.ReadCSV(context.Background(), strings.NewReader(in), "data.csv", dataset.CSVOptions{})
		if err == nil {
			t.Fatal("no error")
		}
		if msg := err.Error(); len(msg) > 300 || !utf8.ValidString(msg) {
			t.Errorf("message of %d bytes: %.300q", len(msg), msg)
		}
	}
	if got, want := dataset.Quote(strings.Repeat("a", 100)), `"`+strings.Repeat("a", 40)+`"... (100 bytes)`; got != want {
		t.Errorf("Quote = %s, want %s", got, want)
	}
}

// TestReadCSVNAAndDelimiter checks --na (which values are missing) and
// --delimiter.
func TestReadCSVNAAndDelimiter(t *testing.T) {
	ds := read(t, "user;x;y\na;1.5;2\nb; -3 ;4\n", dataset.CSVOptions{Comma: ';'})
	if len(ds.Users) != 2 || ds.Users[1].X[0] != -3 {
		t.Fatalf("semicolons: %+v", ds.Users)
	}
	ds = read(t, "user\tx\ty\na\t1\t2\n", dataset.CSVOptions{Comma: '\t'})
	if ds.Users[0].X[0] != 1 || ds.Users[0].Y[0] != 2 {
		t.Fatalf("tabs: %+v", ds.Users)
	}
	tests := []struct {
		name string
		in   string
		opt  dataset.CSVOptions
		want string
	}{
		{"NA feature", "user,x,y\na,1,2\na,NA,2\n", dataset.CSVOptions{NA: []string{"NA", "?"}},
			`data.csv:3: column "x": missing value "NA"`},
		{"NA target", "user,x,y\na,1,?\n", dataset.CSVOptions{NA: []string{"NA", "?"}}, `data.csv:2: column "y": missing value "?"`},
		{"NA user", "user,x,y\nNA,1,2\n", dataset.CSVOptions{NA: []string{"NA"}}, `data.csv:2: column "user": missing user id "NA"`},
		{"NA without --na is a bad number", "user,x,y\na,NA,2\n", dataset.CSVOptions{}, `data.csv:2: column "x": bad number "NA"`},
		{"bad delimiter", "user,x,y\na,1,2\n", dataset.CSVOptions{Comma: '"'}, `data.csv: delimiter '"' cannot separate fields`},
		{"wrong delimiter", "user,x,y\na,1,2\n", dataset.CSVOptions{Comma: ';'}, `missing user column "user"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dataset.ReadCSV(context.Background(), strings.NewReader(tt.in), "data.csv", tt.opt)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
}
