package amht

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"

	"github.com/lrsp/lrsp/internal/linalg"
	"github.com/lrsp/lrsp/internal/vec"
)

// initialize returns the initial U (d x r, orthonormal).
func (tr *trainer) initialize(ctx context.Context) ([]float64, error) {
	d, r := tr.d, tr.r
	rng := rand.New(rand.NewPCG(tr.opt.Seed, 0x616d6874))
	if r == 0 {
		return nil, nil
	}
	switch tr.opt.Init {
	case InitRandom:
		return linalg.RandomBasis(d, r, rng), nil
	case InitRidgeSVD:
		return tr.ridgeSVD(ctx)
	}
	return tr.moments(ctx, rng)
}

// momentIterations bounds the block power iterations of InitMoments.
const momentIterations = 40

// explicitMomentDim is the largest d for which InitMoments forms the d x d
// moment matrix and decomposes it exactly; above it, block power iteration
// applies the matrix user by user.
const explicitMomentDim = 512

// moments returns the top-r eigenvectors of the moment matrix
// M = (1/t) sum_i (1/m_i) sum_j y_ij^2 x_ij x_ij^T. For x ~ N(0, I),
// E[y^2 x x^T] = ||theta||^2 I + 2 theta theta^T, so the top eigenvectors
// span the users' common subspace (plus the sparse parts' average).
func (tr *trainer) moments(ctx context.Context, rng *rand.Rand) ([]float64, error) {
	if tr.d <= explicitMomentDim {
		return tr.momentsExplicit()
	}
	return tr.momentsPower(ctx, rng)
}

// momentWork bounds the size of the explicit moment matrix's sum,
// samples x d^2 (its upper triangle takes half as many multiply-adds, some
// 1.5 s on one core here): above it,
// momentsExplicit estimates M from an evenly spread subset of the chunks
// of users. At d = 200 that is 750,000 samples, at d = 100 three million.
// A much smaller sample is not enough: from 25,000 samples at d = 200 and
// m = 20, the rounds started three times as far from the noise floor.
var momentWork = 3e10

// momentBlock is the number of rows of the moment matrix that
// momentsExplicit updates from one copy of the columns of Z they need.
const momentBlock = 16

// momentsExplicit forms M with one rank-m update per user and takes its
// exact top-r eigenvectors. M is averaged over the users of every stride-th
// chunk, with the stride that keeps the work within momentWork (every
// chunk for data sets of up to momentWork/d^2 samples).
func (tr *trainer) momentsExplicit() ([]float64, error) {
	d, r := tr.d, tr.r
	tr.resize(d * d)
	defer tr.resize(d * r)
	M, err := tr.momentMatrix()
	if err != nil {
		return nil, err
	}
	u, _, err := linalg.TopEigenvectors(d, r, M)
	return u, err
}

// momentMatrix returns the moment matrix of momentsExplicit, d x d, in
// tr.total.acc, which the caller has sized for it.
func (tr *trainer) momentMatrix() ([]float64, error) {
	d := tr.d
	for _, w := range tr.work {
		w.s.moment = make([]float64, 3*tr.maxM*d) // Z, its transpose and a block of its columns
	}
	defer func() {
		for _, w := range tr.work {
			w.s.moment = nil
		}
	}()
	samples := 0
	for i := 0; i < tr.t; i++ {
		samples += tr.src.UserLen(i)
	}
	chunks := len(tr.chunks) - 1
	stride := min(max(1, int(math.Ceil(float64(samples)*float64(d)*float64(d)/momentWork))), chunks)
	used := make([]bool, chunks)
	users := 0
	for c := 0; c < chunks; c += stride {
		used[c] = true
		users += tr.chunks[c+1] - tr.chunks[c]
	}
	need := func(lo, _ int) bool {
		c, _ := slices.BinarySearch(tr.chunks, lo)
		return used[c]
	}
	t := float64(users)
	err := tr.forChunks(need, func(w *worker, _ int, x, y []float64) {
		m := len(y)
		y = tr.target(w, x, y)
		z := w.s.moment[:m*d]
		for s := 0; s < m; s++ {
			f := math.Abs(y[s]) / math.Sqrt(float64(m)*t)
			for j, v := range x[s*d : (s+1)*d] {
				z[s*d+j] = f * v
			}
		}
		// acc += Z^T Z, its upper triangle by blocks of momentBlock
		// rows: row j gains Z^T z_j for the column z_j of Z from column
		// j0, the block's first row, on, four rows of Z per pass over the
		// row of acc (gonum's Syrk took ten times as long). Those columns
		// of Z are first copied together (zs), so that the kernel reads
		// contiguous rows. Every entry is summed in the same order as
		// over whole rows, and M is exactly symmetric, so the mirrored
		// matrix is the one that whole rows gave.
		zt := w.s.moment[tr.maxM*d : tr.maxM*d+d*m]
		for s := 0; s < m; s++ {
			for j, v := range z[s*d : (s+1)*d] {
				zt[j*m+s] = v
			}
		}
		zs := w.s.moment[tr.maxM*d+d*m:]
		for j0 := 0; j0 < d; j0 += momentBlock {
			n := d - j0
			for s := 0; s < m; s++ {
				copy(zs[s*n:(s+1)*n], z[s*d+j0:(s+1)*d])
			}
			for j := j0; j < min(j0+momentBlock, d); j++ {
				vec.AddMulVecTrans(w.a.acc[j*d+j0:(j+1)*d], zs[:m*n], zt[j*m:(j+1)*m])
			}
		}
	})
	if err != nil {
		return nil, err
	}
	// The lower triangle from the upper.
	acc := tr.total.acc
	for j := 0; j < d; j++ {
		for k := j + 1; k < d; k++ {
			acc[k*d+j] = acc[j*d+k]
		}
	}
	return acc, nil
}

// momentsPower runs block power iteration on M - c I, with
// c = trace(M)/(2d) to speed convergence while keeping the wanted
// eigenvalues the largest in magnitude.
func (tr *trainer) momentsPower(ctx context.Context, rng *rand.Rand) ([]float64, error) {
	d, r := tr.d, tr.r
	t := float64(tr.t)
	// trace(M) = (1/t) sum_i (1/m_i) sum_j y^2 ||x||^2.
	err := tr.forUsers(func(w *worker, _ int, x, y []float64) {
		m := len(y)
		y = tr.target(w, x, y)
		for s := 0; s < m; s++ {
			xs := x[s*d : (s+1)*d]
			w.a.sum += y[s] * y[s] * dot(xs, xs) / float64(m)
		}
	})
	if err != nil {
		return nil, err
	}
	shift := tr.total.sum / t / float64(2*d)
	v := linalg.RandomBasis(d, r, rng)
	next := make([]float64, d*r)
	for it := 0; it < momentIterations; it++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		V := blas64.General{Rows: d, Cols: r, Stride: r, Data: v}
		err := tr.forUsers(func(w *worker, _ int, x, y []float64) {
			m := len(y)
			y = tr.target(w, x, y)
			X := blas64.General{Rows: m, Cols: d, Stride: d, Data: x}
			// T = X V (m x r) scaled by y^2/m per row, acc += X^T T.
			tbuf := w.s.a[:m*r]
			T := blas64.General{Rows: m, Cols: r, Stride: r, Data: tbuf}
			blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, X, V, 0, T)
			for s := 0; s < m; s++ {
				f := y[s] * y[s] / float64(m)
				for c := 0; c < r; c++ {
					tbuf[s*r+c] *= f
				}
			}
			blas64.Gemm(blas.Trans, blas.NoTrans, 1, X, T, 1, blas64.General{Rows: d, Cols: r, Stride: r, Data: w.a.acc})
		})
		if err != nil {
			return nil, err
		}
		for j := range next {
			next[j] = tr.total.acc[j]/t - shift*v[j]
		}
		linalg.ThinQR(d, r, next)
		// Converged when the new basis lies in the span of the old one.
		change := subspaceGap(d, r, v, next)
		v, next = next, v
		if change < 1e-8 {
			break
		}
	}
	return v, nil
}

// subspaceGap returns ||(I - A A^T) B||_F^2 for orthonormal A and B.
func subspaceGap(d, r int, a, b []float64) float64 {
	A := blas64.General{Rows: d, Cols: r, Stride: r, Data: a}
	B := blas64.General{Rows: d, Cols: r, Stride: r, Data: b}
	P := blas64.General{Rows: r, Cols: r, Stride: r, Data: make([]float64, r*r)}
	blas64.Gemm(blas.Trans, blas.NoTrans, 1, A, B, 0, P)
	// ||B||^2 - ||A^T B||^2 = r - ||A^T B||^2.
	s := 0.0
	for _, x := range P.Data {
		s += x * x
	}
	return math.Max(float64(r)-s, 0)
}

// ridgeSVD returns the top-r left singular vectors of the d x t matrix of
// per-user ridge solutions, by an eigendecomposition of its d x d Gram.
func (tr *trainer) ridgeSVD(ctx context.Context) ([]float64, error) {
	d, r := tr.d, tr.r
	type buf struct{ g, th []float64 }
	bufs := make([]buf, len(tr.work))
	slot := make(map[*worker]int, len(tr.work))
	for k, w := range tr.work {
		bufs[k] = buf{g: make([]float64, d*d), th: make([]float64, d)}
		slot[w] = k
	}
	tr.resize(d * d)
	defer tr.resize(d * r)
	mean := 0.0
	for _, v := range tr.colVar {
		mean += v / float64(d)
	}
	lambda := 1e-2 * mean
	if tr.opt.Ridge > 0 {
		lambda = tr.opt.Ridge
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	err := tr.forUsers(func(w *worker, _ int, x, y []float64) {
		b := bufs[slot[w]]
		m := len(y)
		y = tr.target(w, x, y)
		X := blas64.General{Rows: m, Cols: d, Stride: d, Data: x}
		G := blas64.Symmetric{N: d, Stride: d, Data: b.g, Uplo: blas.Upper}
		blas64.Syrk(blas.Trans, 1/float64(m), X, 0, G)
		for j := 0; j < d; j++ {
			b.g[j*d+j] += lambda
		}
		th := blas64.Vector{N: d, Inc: 1, Data: b.th}
		blas64.Gemv(blas.Trans, 1/float64(m), X, blas64.Vector{N: m, Inc: 1, Data: y}, 0, th)
		if _, ok := lapack64.Potrf(G); !ok {
			return
		}
		lapack64.Potrs(blas64.Triangular{N: d, Stride: d, Data: b.g, Uplo: blas.Upper, Diag: blas.NonUnit},
			blas64.General{Rows: d, Cols: 1, Stride: 1, Data: b.th})
		blas64.Syr(1, th, blas64.Symmetric{N: d, Stride: d, Data: w.a.acc, Uplo: blas.Upper})
	})
	if err != nil {
		return nil, err
	}
	u, _, err := linalg.TopEigenvectors(d, r, tr.total.acc)
	return u, err
}
