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
