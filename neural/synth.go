package neural

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"gonum.org/v1/gonum/mat"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/synth"
)

// SynthOptions sizes the data of Generate. Users, Samples, Dim, Latent and
// Rank must be positive; the zero values of the other fields mean: no
// sparse part, Scale 2, no noise, no new users, NewSamples = Samples, no
// test samples, seed 0.
type SynthOptions struct {
	Users    int // t, training users
	Samples  int // m, training samples per training user
	Dim      int // d, input features
	Latent   int // p, non-linear features g(A x) shared by all users
	Rank     int // r, dimension of the users' subspace in the latent space
	Sparsity int // k, non-zeros of each b_i in the latent space
	// Scale sets the standard deviation of each pre-activation a_l^T x;
	// the larger, the less linear tanh(a_l^T x) is in x.
	Scale float64
	// Noise is the standard deviation of the target noise.
	Noise float64
	// NewUsers is the number of further users drawn from the same model.
	NewUsers int
	// NewSamples is the number of samples of each new user.
	NewSamples int
	// TestSamples is the number of held-out samples of every user
	// (training and new) in Data.Test.
	TestSamples int
	Seed        uint64
}

// Generate draws data whose per-user functions are non-linear in x but
// share a low-dimensional structure:
//
//	x ~ N(0, I_d),  y = <g(A x), U* w_i + b_i> + N(0, Noise^2),
//
// with g = tanh applied entrywise, A (p x d) a fixed random projection with
// entries N(0, Scale^2 / d) (so each a_l^T x has standard deviation about
// Scale), U* a random p x r orthonormal basis, w_i ~ N(0, I_r) and b_i with
// k random non-zeros ~ N(0, 1). Each user's function is a combination of
// the same p non-linear features, in a shared r-dimensional subspace plus
// a sparse part: exactly neural LRS's model with phi = g(A x), and outside
// the linear model's reach. Training users are "u0".., new users "n0"..;
// Data.Truth is nil (the truth lives in the latent space).
func Generate(o SynthOptions) (*synth.Data, error) {
	if o.Scale == 0 {
		o.Scale = 2
	}
	if o.NewSamples == 0 {
		o.NewSamples = o.Samples
	}
	if o.Users <= 0 || o.Samples <= 0 || o.Dim <= 0 || o.Latent <= 0 || o.Rank <= 0 || o.Rank > o.Latent ||
		o.Sparsity < 0 || o.Sparsity > o.Latent || o.NewUsers < 0 || o.NewSamples < 0 || o.TestSamples < 0 ||
		!(o.Noise >= 0) || math.IsInf(o.Noise, 0) || !(o.Scale > 0) || math.IsInf(o.Scale, 0) {
		return nil, fmt.Errorf("neural: generate: invalid options %+v", o)
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x6e736e74))
	d, p, r := o.Dim, o.Latent, o.Rank
	A := make([]float64, p*d)
	for q := range A {
		A[q] = o.Scale / math.Sqrt(float64(d)) * rng.NormFloat64()
	}
	g := mat.NewDense(p, r, nil)
	for a := range p {
		for c := range r {
			g.Set(a, c, rng.NormFloat64())
		}
	}
	var qr mat.QR
	qr.Factorize(g)
	var U mat.Dense
	qr.QTo(&U)
	features := make([]string, d)
	for q := range features {
		features[q] = "x" + strconv.Itoa(q)
	}
	x, z := make([]float64, d), make([]float64, p)
	sample := func(b *dataset.Builder, id string, theta []float64, row int) {
		for q := range x {
			x[q] = rng.NormFloat64()
		}
		y := 0.0
		for a := range p {
			s := 0.0
			for q, v := range x {
				s += A[a*d+q] * v
			}
			z[a] = math.Tanh(s)
			y += z[a] * theta[a]
		}
		b.Add(id, x, y+o.Noise*rng.NormFloat64(), row)
	}
	test := dataset.NewBuilder(features, true)
	testRow := 0
	gen := func(prefix string, n, m int) *dataset.Dataset {
		b := dataset.NewBuilder(features, true)
		row := 0
		theta := make([]float64, p)
		w := make([]float64, r)
		for i := range n {
			id := prefix + strconv.Itoa(i)
			for c := range w {
				w[c] = rng.NormFloat64()
			}
			for a := range p {
				theta[a] = 0
				for c := range r {
					theta[a] += U.At(a, c) * w[c]
				}
			}
			for _, a := range rng.Perm(p)[:o.Sparsity] {
				theta[a] += rng.NormFloat64()
			}
			for range m {
				sample(b, id, theta, row)
				row++
			}
			for range o.TestSamples {
				sample(test, id, theta, testRow)
				testRow++
			}
		}
		return b.Dataset()
	}
	data := &synth.Data{Train: gen("u", o.Users, o.Samples)}
	if o.NewUsers > 0 {
		data.New = gen("n", o.NewUsers, o.NewSamples)
	}
	if o.TestSamples > 0 {
		data.Test = test.Dataset()
	}
	return data, nil
}
