// Package modeltest compares trained models and training statistics bit
// for bit, for the tests of lrsp's trainers (that a model does not depend
// on the number of workers, for example).
package modeltest

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/lrsp/lrsp/internal/fit"
	"github.com/lrsp/lrsp/model"
)

// SameBits reports whether a and b hold the same float64 values bit for
// bit (so NaN equals NaN), and the first index where they differ (-1 when
// their lengths differ).
func SameBits(a, b []float64) (int, bool) {
	if len(a) != len(b) {
		return -1, false
	}
	for j := range a {
		if math.Float64bits(a[j]) != math.Float64bits(b[j]) {
			return j, false
		}
	}
	return 0, true
}

// Diff returns the first difference between the parameters of two models
// (U, theta_0, the network's layers and every user's w and b), or nil when
// they are bit-identical.
func Diff(a, b *model.Model) error {
	if j, ok := SameBits(a.U, b.U); !ok {
		diff := 0
		for j := range min(len(a.U), len(b.U)) {
			if a.U[j] != b.U[j] {
				diff++
			}
		}
		if j < 0 {
			return fmt.Errorf("unequal sizes of U: %d vs %d entries", len(a.U), len(b.U))
		}
		return fmt.Errorf("the U entries differ in %d of %d, first U[%d] = %v vs %v", diff, len(a.U), j, a.U[j], b.U[j])
	}
	if _, ok := SameBits(a.Theta0, b.Theta0); !ok {
		return fmt.Errorf("theta_0 differs")
	}
	if (a.Network == nil) != (b.Network == nil) {
		return fmt.Errorf("one model has no network")
	}
	if a.Network != nil {
		if len(a.Network.Layers) != len(b.Network.Layers) {
			return fmt.Errorf("%d vs %d layers", len(a.Network.Layers), len(b.Network.Layers))
		}
		for l := range a.Network.Layers {
			if j, ok := SameBits(a.Network.Layers[l], b.Network.Layers[l]); !ok {
				return fmt.Errorf("network layer %d differs at %d", l, j)
			}
		}
	}
	if len(a.Users) != len(b.Users) {
		return fmt.Errorf("%d vs %d users", len(a.Users), len(b.Users))
	}
	for i := range a.Users {
		ua, ub := &a.Users[i], &b.Users[i]
		_, w := SameBits(ua.W, ub.W)
		_, v := SameBits(ua.Value, ub.Value)
		if ua.ID != ub.ID || !w || !v || !slices.Equal(ua.Index, ub.Index) {
			return fmt.Errorf("user %q differs: %+v vs %+v", ua.ID, *ua, *ub)
		}
	}
	return nil
}

// DiffRounds returns the first difference between two runs' per-round
// statistics, ignoring the wall times, or nil when they are bit-identical.
func DiffRounds(a, b []fit.RoundStats) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d vs %d rounds", len(a), len(b))
	}
	for k := range a {
		ra, rb := a[k], b[k]
		ra.Seconds, rb.Seconds = 0, 0
		va, vb := math.NaN(), math.NaN()
		if ra.ValidationLoss != nil {
			va = *ra.ValidationLoss
		}
		if rb.ValidationLoss != nil {
			vb = *rb.ValidationLoss
		}
		ra.ValidationLoss, rb.ValidationLoss = nil, nil
		_, same := SameBits([]float64{ra.TrainLoss, ra.InlierLoss, va}, []float64{rb.TrainLoss, rb.InlierLoss, vb})
		if ra.Round != rb.Round || ra.Outliers != rb.Outliers || !same {
			return fmt.Errorf("round %d: %+v (validation %v) vs %+v (validation %v)", k+1, ra, va, rb, vb)
		}
	}
	return nil
}

// WorkerCounts returns the numbers of workers a determinism test compares:
// 1, 2, 3 and 7, or 1 and 3 with -short (as the race detector's CI step
// runs them, where every run is several times slower).
func WorkerCounts() []int {
	if testing.Short() {
		return []int{1, 3}
	}
	return []int{1, 2, 3, 7}
}
