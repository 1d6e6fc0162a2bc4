package dataset_test

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/dataset"
)

// FuzzReadCSV checks that the reader never panics, that every error names
// the input, and that accepted input is well formed and survives
// WriteCSV -> ReadCSV unchanged.
func FuzzReadCSV(f *testing.F) {
	for _, s := range []string{
		"user,x1,x2,y\na,1,2,3\nb,-1.5e-3,0x1p-2,4\na,0,-0,5\n",
		"user,x\nu,1\n",
		"\ufeffuser,a,y\r\n\"q,\"\"u\"\"\",1,2\r\n",
		"x,user,y,z\n1,\" a\",2,3\n\n4,b ,5,6\n",
		"user,x,y\n\"multi\nline\",1e308,-4.9e-324\n",
		"user,x\n\"0\r\r\n0\",1\n",
		"\"a\r\r\nb\",user\n1,u\n",
		"user,x,x,y\na,1,2,3\n",
		"user,x,y\na,NaN,1\n",
		"user,x,y\na,1\n",
		"user,x,y\n,1,2\n",
		"user,x,y\na\"b,1,2\n",
		"",
		"user,x,y\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		// A tight record bound, another delimiter and NA values must fail
		// cleanly too.
		small := dataset.CSVOptions{MaxRows: 10000, MaxLineBytes: 16, Comma: ';', NA: []string{"NA"}}
		if _, err := dataset.ReadCSV(context.Background(), bytes.NewReader(in), "fuzz.csv", small); err != nil &&
			!strings.HasPrefix(err.Error(), "dataset: fuzz.csv") {
			t.Fatalf("error %q does not name the input", err)
		}
		ds, err := dataset.ReadCSV(context.Background(), bytes.NewReader(in), "fuzz.csv", dataset.CSVOptions{MaxRows: 10000})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "dataset: fuzz.csv") {
				t.Fatalf("error %q does not name the input", err)
			}
			return
		}
		d := ds.Dim()
		if d == 0 || len(ds.Users) == 0 {
			t.Fatalf("accepted a dataset with d=%d and %d users", d, len(ds.Users))
		}
		seen := make([]bool, ds.Rows())
		for _, u := range ds.Users {
			if u.ID == "" || u.Len() == 0 || len(u.X) != d*u.Len() || (ds.HasTarget && len(u.Y) != u.Len()) {
				t.Fatalf("malformed user %q: %d rows, %d x, %d y (d=%d)", u.ID, u.Len(), len(u.X), len(u.Y), d)
			}
			for _, v := range append(u.X[:len(u.X):len(u.X)], u.Y...) {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("user %q: accepted non-finite value %v", u.ID, v)
				}
			}
			for _, r := range u.Rows {
				if seen[r] {
					t.Fatalf("row %d appears twice", r)
				}
				seen[r] = true
			}
		}
		if ds.Rows() != ds.Samples() {
			t.Fatalf("%d rows but %d samples", ds.Rows(), ds.Samples())
		}
		var buf bytes.Buffer
		if err := dataset.WriteCSV(&buf, ds); err != nil {
			t.Fatalf("WriteCSV: %v", err)
		}
		written := buf.String()
		back, err := dataset.ReadCSV(context.Background(), &buf, "again.csv", dataset.CSVOptions{})
		if err != nil {
			t.Fatalf("re-read of\n%q\nfailed: %v", written, err)
		}
		if diff := sameDataset(ds, back); diff != "" {
			t.Fatalf("round trip changed the dataset: %s\nwritten:\n%q", diff, written)
		}
	})
}
