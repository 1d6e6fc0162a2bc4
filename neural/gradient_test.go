package neural

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/lrsp/lrsp/dataset"
)

// tinyData returns t users with m samples each of d features, targets
// from an arbitrary non-linear function.
func tinyData(t, m, d int, seed uint64) *dataset.Dataset {
	rng := rand.New(rand.NewPCG(seed, 1))
	names := make([]string, d)
	for q := range names {
		names[q] = "x" + strconv.Itoa(q)
	}
	b := dataset.NewBuilder(names, true)
	x := make([]float64, d)
	row := 0
	for i := range t {
		for range m {
			for q := range x {
				x[q] = rng.NormFloat64()
			}
			b.Add("u"+strconv.Itoa(i), x, math.Sin(x[0])+x[1]*x[len(x)-1]+0.1*rng.NormFloat64(), row)
			row++
		}
	}
	return b.Dataset()
}

// objective returns (1/B) sum_i (1/m_i) ||Phi_i theta_i - y_i||^2 over the
// trainer's users, with theta_i = U w_i + b_i formed from the current head
// (theta_0 for the global network), independently of backward.
func objective(tr *trainer) float64 {
	s := 0.0
	for i := range tr.users {
		u := &tr.users[i]
		theta := make([]float64, tr.h)
		if tr.r == 0 {
			copy(theta, tr.net.head)
		} else {
			for a := range tr.h {
				for c := range tr.r {
					theta[a] += tr.net.head[a*tr.r+c] * u.w[c]
				}
			}
			for p, j := range u.idx {
				theta[j] += u.val[p]
			}
		}
		// The network's output computed sample by sample, without the
		// batched forward pass.
		for j := range u.m {
			phi := tr.net.applyOne(u.x[j*tr.d : (j+1)*tr.d])
			e := dot(phi, theta) - u.y[j]
			s += e * e / float64(u.m)
		}
	}
	return s / float64(len(tr.users))
}

// applyOne runs the network on one sample with plain loops.
func (n *net) applyOne(x []float64) []float64 {
	in := x
	for l := range n.layer {
		rows, cols := n.sizes[l+1], n.sizes[l]
		w := n.layer[l]
		out := make([]float64, rows)
		for a := range rows {
			z := w[rows*cols+a]
			for q := range cols {
				z += w[a*cols+q] * in[q]
			}
			out[a] = math.Tanh(z)
		}
		in = out
	}
	return in
}

// TestGradient checks backpropagation's gradient with respect to every
// weight and bias of the network and to U (theta_0 for the global network)
// against central finite differences of the objective.
func TestGradient(t *testing.T) {
	for _, tc := range []struct {
		name   string
		hidden []int
		rank   int
		k      int
		global bool
	}{
		{"one layer, r=2", []int{5}, 2, 0, false},
		{"two layers, r=2, k=1", []int{6, 4}, 2, 1, false},
		{"three layers, r=1", []int{5, 4, 3}, 1, 0, false},
		{"global, two layers", []int{6, 4}, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := tinyData(4, 7, 3, 3)
			opt := Options{Hidden: tc.hidden, Rank: tc.rank, Sparsity: tc.k, Global: tc.global, Workers: 2}
			opt = opt.withDefaults()
			tr, err := newTrainer(ds, nil, opt)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(7, 7))
			for q := range tr.net.params {
				tr.net.params[q] = rng.NormFloat64()
			}
			for i := range tr.users {
				u := &tr.users[i]
				for c := range u.w {
					u.w[c] = rng.NormFloat64()
				}
				if tc.k > 0 {
					u.idx, u.val = []int32{int32(i % tr.h)}, []float64{rng.NormFloat64()}
				}
				// theta_i as the trainer forms it after a per-user solve.
				clear(u.theta)
				for a := range tr.h {
					if tr.r == 0 {
						u.theta[a] = tr.net.head[a]
					}
					for c := range tr.r {
						u.theta[a] += tr.net.head[a*tr.r+c] * u.w[c]
					}
				}
				for p, j := range u.idx {
					u.theta[j] += u.val[p]
				}
			}
			all := make([]int, len(tr.users))
			for i := range all {
				all[i] = i
			}
			tr.batchGradient(all)
			got := tr.grad
			var diff, norm float64
			const step = 1e-5
			for q := range tr.net.params {
				v := tr.net.params[q]
				tr.net.params[q] = v + step
				fp := objective(tr)
				tr.net.params[q] = v - step
				fm := objective(tr)
				tr.net.params[q] = v
				num := (fp - fm) / (2 * step)
				diff += (num - got[q]) * (num - got[q])
				norm += num * num
			}
			rel := math.Sqrt(diff / norm)
			t.Logf("%d parameters, relative error %.3g", len(got), rel)
			if !(rel < 1e-5) {
				t.Errorf("relative error of the gradient %.3g, want < 1e-5", rel)
			}
		})
	}
}
