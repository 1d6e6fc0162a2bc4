package synth

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"gonum.org/v1/gonum/mat"

	"github.com/lrsp/lrsp/model"
)

// MaxRandomInputs is the largest RandomModelOptions.Inputs.
const MaxRandomInputs = 1 << 14

// RandomModelOptions size the model that RandomModel draws. The zero value
// is a model with no users, d = 0, which RandomModel refuses: Dim must be
// positive.
type RandomModelOptions struct {
	// Users is the number of users, IDs "u0", "u1", ...; 0 means none.
	Users int
	// Dim is the number of features d, at least 1.
	Dim int
	// Rank is the rank r of U, in [0, Dim].
	Rank int
	// Sparsity is the number k of non-zeros of each b_i, in [0, Dim].
	Sparsity int
	// Inputs, when positive (at most MaxRandomInputs), puts a random
	// one-layer tanh network from Inputs inputs to the Dim features in
	// front of the model, making it a neural-lrs model; 0 means none.
	Inputs int
	// Loss is recorded as the model's training loss: model.LossSquared or
	// model.LossLogistic. Empty means model.LossSquared.
	Loss string
	// Seed seeds the draws.
	Seed uint64
}

// RandomModel returns a model with random parameters, for load, import
// and serving measurements: an orthonormal U (QR of a Gaussian matrix),
// Gaussian w_i and k-sparse Gaussian b_i for every user, and, with
// o.Inputs, a network layer with weights N(0, 1/Inputs) and biases
// N(0, 0.01). It is deterministic in o.Seed and stops with ctx's error
// when ctx is done.
func RandomModel(ctx context.Context, o RandomModelOptions) (*model.Model, error) {
	users, d, r, k := o.Users, o.Dim, o.Rank, o.Sparsity
	if users < 0 || d <= 0 || r < 0 || r > d || k < 0 || k > d || o.Inputs < 0 || o.Inputs > MaxRandomInputs {
		return nil, fmt.Errorf("synth: bad sizes users=%d d=%d r=%d k=%d inputs=%d", users, d, r, k, o.Inputs)
	}
	if o.Loss != "" && o.Loss != model.LossSquared && o.Loss != model.LossLogistic {
		return nil, fmt.Errorf("synth: unknown loss %q", o.Loss)
	}
	rng := rand.New(rand.NewPCG(o.Seed, 2))
	m := &model.Model{Method: model.MethodLRS, Dim: d, Rank: r, Sparsity: k, Features: make([]string, d),
		U: make([]float64, d*r), Config: model.Config{Version: model.ConfigVersion, Method: model.MethodLRS, Seed: o.Seed,
			Extra: map[string]string{"generator": "random-model"}}}
	for j := range m.Features {
		m.Features[j] = "x" + strconv.Itoa(j)
	}
	if r > 0 {
		g := mat.NewDense(d, r, nil)
		for j := 0; j < d; j++ {
			for a := 0; a < r; a++ {
				g.Set(j, a, rng.NormFloat64())
			}
		}
		var qr mat.QR
		qr.Factorize(g)
		var q mat.Dense
		qr.QTo(&q)
		for j := 0; j < d; j++ {
			for a := 0; a < r; a++ {
				m.U[j*r+a] = q.At(j, a)
			}
		}
	}
	m.Users = make([]model.User, users)
	w := make([]float64, users*r)
	idx := make([]int32, users*k)
	val := make([]float64, users*k)
	mark := make([]bool, d)
	for i := range m.Users {
		if i%65536 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		u := &m.Users[i]
		u.ID = "u" + strconv.Itoa(i)
		u.W = w[i*r : (i+1)*r : (i+1)*r]
		for a := range u.W {
			u.W[a] = rng.NormFloat64()
		}
		for n := 0; n < k; {
			if j := rng.IntN(d); !mark[j] {
				mark[j] = true
				n++
			}
		}
		u.Index, u.Value = idx[i*k:i*k:(i+1)*k], val[i*k:i*k:(i+1)*k]
		for j := range mark {
			if mark[j] {
				mark[j] = false
				u.Index = append(u.Index, int32(j))
				u.Value = append(u.Value, rng.NormFloat64())
			}
		}
	}
	if o.Loss == model.LossLogistic {
		m.Loss = model.LossLogistic
	}
	if o.Inputs > 0 {
		addRandomNetwork(m, o.Inputs, o.Seed)
	}
	return m, nil
}

// addRandomNetwork puts a random inputs -> m.Dim tanh layer in front of m's
// features (weights N(0, 1/inputs), biases N(0, 0.01)) and makes it a
// neural-lrs model.
func addRandomNetwork(m *model.Model, inputs int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 3))
	n := &model.Network{Inputs: make([]string, inputs), Sizes: []int{inputs, m.Dim}, Activation: model.ActivationTanh}
	for q := range n.Inputs {
		n.Inputs[q] = "in" + strconv.Itoa(q)
	}
	layer := make([]float64, n.LayerLen(1))
	for i := range layer {
		scale := 1 / math.Sqrt(float64(inputs))
		if i >= m.Dim*inputs {
			scale = 0.1
		}
		layer[i] = scale * rng.NormFloat64()
	}
	n.Layers = [][]float64{layer}
	m.Network, m.Method = n, model.MethodNeuralLRS
	for j := range m.Features {
		m.Features[j] = "h" + strconv.Itoa(j)
	}
}
