package dataset

import (
	"fmt"
	"math/rand/v2"
)

// Folds splits every user's samples of ds into k folds, reproducibly from
// seed, for per-user k-fold cross-validation: part f is (train, held) with
// the user's samples of fold f held out and the rest kept. A user's samples
// are shuffled and dealt to the folds in turn, so every sample is held out
// exactly once over the k parts; a user with fewer than 2 samples is never
// held out (it stays in every training part), and a part that would hold
// out no sample at all is left out. Held-out samples keep their row
// numbers.
func Folds(ds *Dataset, k int, seed uint64) ([][2]*Dataset, error) {
	if k < 2 {
		return nil, fmt.Errorf("dataset: folds: k = %d, want at least 2", k)
	}
	rng := rand.New(rand.NewPCG(seed, 0x666f6c64))
	d := ds.Dim()
	fold := make([][]int, len(ds.Users))
	for i := range ds.Users {
		m := ds.Users[i].Len()
		fold[i] = make([]int, m)
		for s := range fold[i] {
			fold[i][s] = -1
		}
		if m < 2 {
			continue
		}
		// Start each user at a random fold so that users with fewer
		// samples than k spread their held-out samples over every fold.
		off := rng.IntN(k)
		for p, s := range rng.Perm(m) {
			fold[i][s] = (p + off) % k
		}
	}
	var parts [][2]*Dataset
	for f := 0; f < k; f++ {
		tb := NewBuilder(ds.Features, ds.HasTarget)
		hb := NewBuilder(ds.Features, ds.HasTarget)
		held := 0
		for i := range ds.Users {
			u := &ds.Users[i]
			// A user keeps at least one training sample.
			kept := 0
			for s := range fold[i] {
				if fold[i][s] != f {
					kept++
				}
			}
			for s := 0; s < u.Len(); s++ {
				y := 0.0
				if ds.HasTarget {
					y = u.Y[s]
				}
				bl := tb
				if fold[i][s] == f && kept > 0 {
					bl = hb
					held++
				}
				bl.Add(u.ID, u.X[s*d:(s+1)*d], y, u.Rows[s])
			}
		}
		if held > 0 {
			parts = append(parts, [2]*Dataset{tb.Dataset(), hb.Dataset()})
		}
	}
	return parts, nil
}
