package baseline

import (
	"context"
	"errors"
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/internal/fit"
)

// ridgeSystem accumulates the normal equations of a ridge regression,
// (1/n) sum_s (x_s x_s^T) theta = (1/n) sum_s x_s y_s, and solves them with
// a penalty lambda*||theta - prior||^2. A ridgeSystem is used by one
// goroutine at a time.
type ridgeSystem struct {
	d    int
	n    int
	gram []float64 // d x d, upper triangle used
	rhs  []float64 // d
	work []float64 // d x d Cholesky factor
}

func newRidgeSystem(d int) *ridgeSystem {
	return &ridgeSystem{d: d, gram: make([]float64, d*d), rhs: make([]float64, d), work: make([]float64, d*d)}
}

func (s *ridgeSystem) reset() {
	s.n = 0
	clear(s.gram)
	clear(s.rhs)
}

// add adds the m samples x (row-major, m x d) with targets y - x*offset
// (offset may be nil).
func (s *ridgeSystem) add(x, y, offset []float64) {
	d, m := s.d, len(y)
	if m == 0 {
		return
	}
	X := blas64.General{Rows: m, Cols: d, Stride: d, Data: x}
	blas64.Syrk(blas.Trans, 1, X, 1, blas64.Symmetric{N: d, Stride: d, Data: s.gram, Uplo: blas.Upper})
	blas64.Gemv(blas.Trans, 1, X, blas64.Vector{N: m, Inc: 1, Data: y}, 1, blas64.Vector{N: d, Inc: 1, Data: s.rhs})
	if offset != nil {
		// rhs -= X^T X offset, using the user's own Gram matrix.
		tmp := make([]float64, m)
		blas64.Gemv(blas.NoTrans, 1, X, blas64.Vector{N: d, Inc: 1, Data: offset}, 0, blas64.Vector{N: m, Inc: 1, Data: tmp})
		blas64.Gemv(blas.Trans, -1, X, blas64.Vector{N: m, Inc: 1, Data: tmp}, 1, blas64.Vector{N: d, Inc: 1, Data: s.rhs})
	}
	s.n += m
}

// solve writes into theta the minimiser of
// (1/n)||y - X theta||^2 + lambda*||theta||^2 over the added samples, where
// the coordinates j with free[j] (free may be nil) are not penalised. With
// lambda 0 and a singular Gram matrix (fewer samples than features, or
// collinear features), a jitter of 1e-8 times the mean diagonal is added, so
// that the result is close to the minimum-norm least-squares solution.
func (s *ridgeSystem) solve(lambda float64, free []bool, theta []float64) error {
	d := s.d
	if s.n == 0 {
		clear(theta)
		return nil
	}
	inv := 1 / float64(s.n)
	tr := 0.0
	for j := 0; j < d; j++ {
		tr += s.gram[j*d+j] * inv
	}
	jitter := 0.0
	for attempt := 0; attempt < 3; attempt++ {
		for j := 0; j < d; j++ {
			for k := j; k < d; k++ {
				s.work[j*d+k] = s.gram[j*d+k] * inv
			}
			s.work[j*d+j] += jitter
			if free == nil || !free[j] {
				s.work[j*d+j] += lambda
			}
		}
		T := blas64.Symmetric{N: d, Stride: d, Data: s.work, Uplo: blas.Upper}
		if _, ok := lapack64.Potrf(T); ok {
			for j := range theta {
				theta[j] = s.rhs[j] * inv
			}
			lapack64.Potrs(blas64.Triangular{N: d, Stride: d, Data: s.work, Uplo: blas.Upper, Diag: blas.NonUnit},
				blas64.General{Rows: d, Cols: 1, Stride: 1, Data: theta})
			return nil
		}
		jitter = max(1e-8, jitter*1e4) * max(tr/float64(d), 1e-300)
	}
	return errors.New("ridge system is not positive definite even with a jitter (non-finite features?)")
}

// forEachUser runs f(w, i) for every user i of ds with fit.ForEach on
// goroutines numbered w = 0..fit.Workers(workers, len(ds.Users))-1 and
// returns the first error, naming its user. Cancelling ctx stops it between
// users with ctx's error. Every user's fit depends on that user alone, so
// the results do not depend on workers.
func forEachUser(ctx context.Context, ds *dataset.Dataset, workers int, f func(w, i int) error) error {
	return fit.ForEach(ctx, len(ds.Users), workers, func(w, i int) error {
		if err := f(w, i); err != nil {
			return fmt.Errorf("user %q: %w", ds.Users[i].ID, err)
		}
		return nil
	})
}

// constantColumns reports, for each feature, whether it has the same value
// in every sample of ds (a bias column); such columns are not penalised by
// the ridge fits. It returns nil when there is none.
func constantColumns(ds *dataset.Dataset) []bool {
	d := ds.Dim()
	var first []float64
	free := make([]bool, d)
	for i := range ds.Users {
		u := &ds.Users[i]
		for s := 0; s < u.Len(); s++ {
			x := u.X[s*d : (s+1)*d]
			if first == nil {
				first = x
				for j := range free {
					free[j] = x[j] != 0
				}
				continue
			}
			for j, v := range x {
				if v != first[j] {
					free[j] = false
				}
			}
		}
	}
	for _, f := range free {
		if f {
			return free
		}
	}
	return nil
}
