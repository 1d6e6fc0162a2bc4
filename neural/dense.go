package neural

import (
	"context"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"

	"github.com/lrsp/lrsp/model"
)

// This file holds the per-user dense head (Options.Dense): the FedRep /
// FedPer-style baseline in which every user has its own output vector
// theta_i over the h features of the shared network.

// DenseRidgeGrid returns the candidate ridges of the dense head's per-user
// leave-one-out selection (Options.Dense with Ridge 0): 10^-4 to 10 in
// half decades, relative to the mean eigenvalue of the user's Gram matrix
// Phi^T Phi / m, that is the per-user ridge lambda of
//
//	(1/m) ||y - Phi theta||^2 + lambda ||theta||^2
//
// is rho * tr(Phi^T Phi) / (m h) for the rho of the grid with the lowest
// exact leave-one-out error (the largest of those within a relative 1e-9 of
// the lowest). Relative units make the grid independent of
// the scale of the features; leave-one-out needs no held-out samples, so
// that the same rule serves training and the personalization of new users
// from a few samples.
func DenseRidgeGrid() []float64 {
	g := make([]float64, 11)
	for k := range g {
		g[k] = math.Pow(10, -4+0.5*float64(k))
	}
	return g
}

// denseSolver fits one user's dense head at a time; one per goroutine.
type denseSolver struct {
	h     int
	ridge float64   // fixed ridge lambda, or 0 for leave-one-out selection
	grid  []float64 // relative ridges rho
	gram  []float64 // h x h
	c     []float64 // h: Phi^T y
	p     []float64 // maxM x h: Phi Q
	z     []float64 // h: Q^T c
	alpha []float64 // h
	eig   mat.EigenSym
	q     mat.Dense
}

func newDenseSolver(h, maxM int, ridge float64) *denseSolver {
	return &denseSolver{h: h, ridge: ridge, grid: DenseRidgeGrid(), gram: make([]float64, h*h), c: make([]float64, h),
		p: make([]float64, maxM*h), z: make([]float64, h), alpha: make([]float64, h)}
}

// solve writes into theta (length h) the minimizer of
// (1/m) ||y - Phi theta||^2 + lambda ||theta||^2 for the m x h features phi
// (row-major), with lambda the fixed ridge or the leave-one-out choice.
func (s *denseSolver) solve(phi, y, theta []float64) error {
	h, m := s.h, len(y)
	if m == 0 {
		clear(theta)
		return nil
	}
	Phi := blas64.General{Rows: m, Cols: h, Stride: h, Data: phi[:m*h]}
	G := blas64.Symmetric{N: h, Stride: h, Data: s.gram, Uplo: blas.Upper}
	blas64.Syrk(blas.Trans, 1, Phi, 0, G)
	for a := range h {
		for b := range a {
			s.gram[a*h+b] = s.gram[b*h+a]
		}
	}
	blas64.Gemv(blas.Trans, 1, Phi, blas64.Vector{N: m, Inc: 1, Data: y}, 0, blas64.Vector{N: h, Inc: 1, Data: s.c})
	tr := 0.0
	for a := range h {
		tr += s.gram[a*h+a]
	}
	if !(tr > 0) {
		// All features are zero: the head cannot matter.
		clear(theta)
		return nil
	}
	if s.ridge > 0 {
		return s.solveFixed(theta, s.ridge*float64(m), tr)
	}
	if !s.eig.Factorize(mat.NewSymDense(h, s.gram), true) {
		return fmt.Errorf("dense head: eigendecomposition failed")
	}
	vals := s.eig.Values(nil)
	s.eig.VectorsTo(&s.q)
	Q := s.q.RawMatrix()
	P := blas64.General{Rows: m, Cols: h, Stride: h, Data: s.p[:m*h]}
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, Phi, Q, 0, P)
	blas64.Gemv(blas.Trans, 1, Q, blas64.Vector{N: h, Inc: 1, Data: s.c}, 0, blas64.Vector{N: h, Inc: 1, Data: s.z})
	for a, v := range vals {
		vals[a] = max(v, 0)
	}
	// From the largest ridge down, so that ties (a user with one sample,
	// whose leave-one-out error is y^2 whatever the ridge) go to the most
	// regularized head.
	best, bestLoss := -1, math.Inf(1)
	for g := len(s.grid) - 1; g >= 0; g-- {
		add := s.grid[g] * tr / float64(h)
		loss := 0.0
		for j := range m {
			row := P.Data[j*h : (j+1)*h]
			fit, lev := 0.0, 0.0
			for a, pa := range row {
				inv := 1 / (vals[a] + add)
				fit += pa * s.z[a] * inv
				lev += pa * pa * inv
			}
			if 1-lev < 1e-12 {
				loss = math.Inf(1)
				break
			}
			e := (y[j] - fit) / (1 - lev)
			loss += e * e
		}
		if loss < bestLoss*(1-1e-9) {
			best, bestLoss = g, loss
		}
	}
	if best < 0 {
		best = len(s.grid) - 1
	}
	add := s.grid[best] * tr / float64(h)
	for a := range h {
		s.alpha[a] = s.z[a] / (vals[a] + add)
	}
	blas64.Gemv(blas.NoTrans, 1, Q, blas64.Vector{N: h, Inc: 1, Data: s.alpha}, 0, blas64.Vector{N: h, Inc: 1, Data: theta})
	return nil
}

// solveFixed solves (Phi^T Phi + add I) theta = Phi^T y by Cholesky, with
// a relative jitter of 1e-10 should the matrix not be positive definite.
func (s *denseSolver) solveFixed(theta []float64, add, tr float64) error {
	h := s.h
	for _, jitter := range []float64{0, 1e-10 * tr / float64(h)} {
		a := slices.Clone(s.gram)
		for i := range h {
			a[i*h+i] += add + jitter
		}
		var chol mat.Cholesky
		if !chol.Factorize(mat.NewSymDense(h, a)) {
			continue
		}
		var th mat.VecDense
		if err := chol.SolveVecTo(&th, mat.NewVecDense(h, s.c)); err != nil {
			return fmt.Errorf("dense head: %w", err)
		}
		copy(theta, th.RawVector().Data)
		return nil
	}
	return fmt.Errorf("dense head: the normal equations are not positive definite")
}

// solveDense fits every user's dense head with the network fixed and
// records each user's training MSE.
func (tr *trainer) solveDense(ctx context.Context) error {
	solvers := make([]*denseSolver, len(tr.tapes))
	for k := range solvers {
		solvers[k] = newDenseSolver(tr.h, tr.maxM, tr.opt.Ridge)
	}
	return tr.parallel(ctx, len(tr.users), func(k, i int) error {
		u := &tr.users[i]
		phi := tr.net.forward(tr.tapes[k], u.x, u.m)
		if err := solvers[k].solve(phi, u.y, u.theta); err != nil {
			return fmt.Errorf("neural: user %q: %w", u.id, err)
		}
		u.mse = mse(phi, u.y, u.theta)
		return nil
	})
}

// denseUser returns the model user whose b_i is the dense head theta (all
// h entries), as model.MethodNeuralDense stores it.
func denseUser(id string, theta []float64) model.User {
	idx := make([]int32, len(theta))
	for a := range idx {
		idx[a] = int32(a)
	}
	return model.User{ID: id, W: []float64{}, Index: idx, Value: slices.Clone(theta)}
}

// denseModel completes m (network, features and config set) as a
// model.MethodNeuralDense model of the current heads.
func (tr *trainer) denseModel(m *model.Model) *model.Model {
	m.Method, m.Sparsity = model.MethodNeuralDense, tr.h
	m.Config.Method = model.MethodNeuralDense
	// DenseRidge 0 records the per-user leave-one-out choice.
	m.Config.DenseRidge = tr.opt.Ridge
	m.Config.Pursuit = 0
	for i := range tr.users {
		m.Users = append(m.Users, denseUser(tr.users[i].id, tr.users[i].theta))
	}
	return m
}
