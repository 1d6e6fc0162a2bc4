package dataset_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/dataset"
)

func ids(ds *dataset.Dataset) []string {
	if ds == nil {
		return nil
	}
	var out []string
	for _, u := range ds.Users {
		out = append(out, u.ID)
	}
	return out
}

func TestSplitValidation(t *testing.T) {
	ds := varied([]int{1, 4, 10})
	for _, tc := range []struct {
		fraction float64
		held     int // held-out samples, -1: no held-out dataset
		err      bool
	}{
		{0, -1, false},
		{0.5, 0 + 2 + 5, false},
		{-0.1, 0, true},
		{1, 0, true},
		{math.NaN(), 0, true},
	} {
		t.Run(fmt.Sprint(tc.fraction), func(t *testing.T) {
			train, held, err := dataset.SplitValidation(ds, tc.fraction, 3)
			if (err != nil) != tc.err {
				t.Fatalf("error %v, want error %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if tc.held < 0 {
				if train != ds || held != nil {
					t.Fatalf("fraction 0: got %p and %v, want ds itself (%p) and nil", train, held, ds)
				}
				return
			}
			wantTrain, wantHeld, _ := dataset.Split(ds, tc.fraction, 3)
			if d := sameDataset(train, wantTrain) + sameDataset(held, wantHeld); d != "" {
				t.Fatalf("differs from Split: %s", d)
			}
			if held.Samples() != tc.held {
				t.Fatalf("%d held-out samples, want %d", held.Samples(), tc.held)
			}
		})
	}
}

func TestHoldOutUsers(t *testing.T) {
	ds := varied([]int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	for _, tc := range []struct {
		fraction float64
		held     int
		err      string
	}{
		{0.01, 1, ""}, // at least one
		{0.2, 2, ""},
		{0.25, 3, ""}, // rounded
		{0.9, 9, ""},
		{0.96, 0, "would hold out all 10"},
		{0, 0, "must be in (0, 1)"},
		{1, 0, "must be in (0, 1)"},
		{math.NaN(), 0, "must be in (0, 1)"},
	} {
		t.Run(fmt.Sprint(tc.fraction), func(t *testing.T) {
			keep, held, err := dataset.HoldOutUsers(ds, tc.fraction, 5)
			if tc.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), "dataset: ") || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(held.Users) != tc.held || len(keep.Users)+len(held.Users) != len(ds.Users) {
				t.Fatalf("kept %v, held %v: want %d held out of %d", ids(keep), ids(held), tc.held, len(ds.Users))
			}
			// Every user is in exactly one part, each part in ds's order.
			all := append(ids(keep), ids(held)...)
			slices.Sort(all)
			want := ids(ds)
			slices.Sort(want)
			if !slices.Equal(all, want) {
				t.Fatalf("kept %v + held %v do not partition %v", ids(keep), ids(held), ids(ds))
			}
			for _, part := range []*dataset.Dataset{keep, held} {
				if !slices.IsSortedFunc(part.Users, func(a, b dataset.User) int { return a.Rows[0] - b.Rows[0] }) {
					t.Errorf("part %v is not in input order", ids(part))
				}
				if !slices.Equal(part.Features, ds.Features) || part.HasTarget != ds.HasTarget {
					t.Errorf("part %v lost the columns", ids(part))
				}
			}
			k2, h2, _ := dataset.HoldOutUsers(ds, tc.fraction, 5)
			if !slices.Equal(ids(k2), ids(keep)) || !slices.Equal(ids(h2), ids(held)) {
				t.Error("same seed, different users held out")
			}
		})
	}
	_, a, _ := dataset.HoldOutUsers(ds, 0.5, 1)
	_, b, _ := dataset.HoldOutUsers(ds, 0.5, 2)
	if slices.Equal(ids(a), ids(b)) {
		t.Error("seeds 1 and 2 held out the same 5 of 10 users")
	}
}

func TestSplitUsers(t *testing.T) {
	ds := varied([]int{2, 2, 2, 2, 2}) // users u0..u4
	sub := func(users ...int) *dataset.Dataset {
		s := &dataset.Dataset{Features: ds.Features, HasTarget: true}
		for _, i := range users {
			s.Users = append(s.Users, ds.Users[i])
		}
		return s
	}
	for _, tc := range []struct {
		name    string
		of      *dataset.Dataset
		in, out []string
	}{
		{"all", ds, []string{"u0", "u1", "u2", "u3", "u4"}, nil},
		{"none", sub(), nil, []string{"u0", "u1", "u2", "u3", "u4"}},
		{"some, out of order", sub(3, 1), []string{"u1", "u3"}, []string{"u0", "u2", "u4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, out := dataset.SplitUsers(ds, tc.of)
			if !slices.Equal(ids(in), tc.in) || !slices.Equal(ids(out), tc.out) {
				t.Fatalf("in %v, out %v; want %v, %v", ids(in), ids(out), tc.in, tc.out)
			}
			for _, part := range []*dataset.Dataset{in, out} {
				if !slices.Equal(part.Features, ds.Features) || part.HasTarget != ds.HasTarget {
					t.Errorf("part %v lost the columns", ids(part))
				}
			}
		})
	}
}

func TestReorder(t *testing.T) {
	build := func() *dataset.Dataset {
		b := dataset.NewBuilder([]string{"c", "a", "b"}, true)
		b.Add("u", []float64{3, 1, 2}, 9, 0)
		b.Add("v", []float64{30, 10, 20}, 8, 1)
		b.Add("u", []float64{-3, -1, -2}, 7, 2)
		return b.Dataset()
	}
	tests := []struct {
		name  string
		want  []string
		err   []string // substrings of the error; nil for none
		xOfU  []float64
		names []string
	}{
		{"same order", []string{"c", "a", "b"}, nil, []float64{3, 1, 2, -3, -1, -2}, []string{"c", "a", "b"}},
		{"by name", []string{"a", "b", "c"}, nil, []float64{1, 2, 3, -1, -2, -3}, []string{"a", "b", "c"}},
		{"missing", []string{"a", "b", "c", "d"}, []string{"match the 4 wanted", `missing 1: "d"`}, nil, nil},
		{"extra", []string{"a", "b"}, []string{`not wanted 1: "c"`}, nil, nil},
		{"both", []string{"a", "z"}, []string{`missing 1: "z"`, `not wanted 2: "c", "b"`}, nil, nil},
		{"twice", []string{"a", "a", "b"}, []string{`missing 1: "a"`, `not wanted 1: "c"`}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := build()
			before := slices.Clone(ds.Users[0].X)
			err := ds.Reorder(tt.want)
			if tt.err != nil {
				for _, w := range tt.err {
					if err == nil || !strings.Contains(err.Error(), w) {
						t.Fatalf("err %v, want %q in it", err, w)
					}
				}
				if !slices.Equal(ds.Users[0].X, before) || !slices.Equal(ds.Features, []string{"c", "a", "b"}) {
					t.Error("a failed Reorder changed the data")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// v's row follows the same permutation as u's first.
			xOfV := make([]float64, 3)
			for j := range xOfV {
				xOfV[j] = 10 * tt.xOfU[j]
			}
			if !slices.Equal(ds.Users[0].X, tt.xOfU) || !slices.Equal(ds.Features, tt.names) || !slices.Equal(ds.Users[1].X, xOfV) {
				t.Errorf("features %v, u %v, v %v", ds.Features, ds.Users[0].X, ds.Users[1].X)
			}
		})
	}
}
