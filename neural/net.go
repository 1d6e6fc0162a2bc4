package neural

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// net is the trainable state shared by all users: the network's layers and
// the head (U, h x r row-major, or theta_0 for the global network, or
// nothing for the per-user dense head), all in one flat parameter vector so
// that Adam treats them alike.
type net struct {
	sizes  []int     // d, h_1, ..., h_L
	params []float64 // layer 1 (W_1 row-major, c_1), ..., layer L, then the head
	layer  [][]float64
	head   []float64 // U (h x r), theta_0 (h), or empty (dense head)
	r      int       // columns of U; 0 for the global network
}

// newNet lays out a network with the given sizes and a head of r columns
// (r = 0: a theta_0 head), with zero parameters.
func newNet(sizes []int, r int) *net {
	n := &net{sizes: sizes, r: r}
	total := 0
	for l := 1; l < len(sizes); l++ {
		total += sizes[l]*sizes[l-1] + sizes[l]
	}
	h := sizes[len(sizes)-1]
	headLen := h * max(r, 1)
	n.params = make([]float64, total+headLen)
	off := 0
	for l := 1; l < len(sizes); l++ {
		k := sizes[l]*sizes[l-1] + sizes[l]
		n.layer = append(n.layer, n.params[off:off+k:off+k])
		off += k
	}
	n.head = n.params[off:]
	return n
}

// dropHead removes the shared head from the parameters: the network of the
// per-user dense head, whose heads are not trained by Adam.
func (n *net) dropHead() {
	n.params = n.params[:len(n.params)-len(n.head)]
	n.head = n.head[:0:0]
}

// h returns the width of the last layer.
func (n *net) h() int { return n.sizes[len(n.sizes)-1] }

// init draws the weights from N(0, 1/fan_in) (suited to tanh), zero biases.
func (n *net) init(rng *rand.Rand) {
	for l := 1; l < len(n.sizes); l++ {
		rows, cols := n.sizes[l], n.sizes[l-1]
		s := 1 / math.Sqrt(float64(cols))
		w := n.layer[l-1]
		for i := range rows * cols {
			w[i] = s * rng.NormFloat64()
		}
		clear(w[rows*cols:])
	}
}

// weights returns layer l's (0-based) weight matrix and biases.
func (n *net) weights(l int) (blas64.General, []float64) {
	rows, cols := n.sizes[l+1], n.sizes[l]
	w := n.layer[l]
	return blas64.General{Rows: rows, Cols: cols, Stride: cols, Data: w[:rows*cols]}, w[rows*cols:]
}

// tape holds one worker's activations for a user's samples, and the
// buffers of backpropagation.
type tape struct {
	act  [][]float64 // act[l]: maxM x sizes[l+1], the output of layer l+1
	g, p []float64   // maxM x widest layer: gradient with respect to a layer's output
	e    []float64   // maxM: prediction errors
	v    []float64   // h
}

func newTape(sizes []int, maxM int) *tape {
	t := &tape{}
	w := 0
	for l, s := range sizes {
		w = max(w, s)
		if l > 0 {
			t.act = append(t.act, make([]float64, maxM*s))
		}
	}
	t.g, t.p = make([]float64, maxM*w), make([]float64, maxM*w)
	t.e = make([]float64, maxM)
	t.v = make([]float64, sizes[len(sizes)-1])
	return t
}

// forward computes the activations of m samples x (m x d, row-major) and
// returns the features phi (m x h, row-major, a view into the tape).
func (n *net) forward(t *tape, x []float64, m int) []float64 {
	in := blas64.General{Rows: m, Cols: n.sizes[0], Stride: n.sizes[0], Data: x}
	for l := range n.layer {
		W, c := n.weights(l)
		k := n.sizes[l+1]
		out := blas64.General{Rows: m, Cols: k, Stride: k, Data: t.act[l][:m*k]}
		for j := range m {
			copy(out.Data[j*k:(j+1)*k], c)
		}
		blas64.Gemm(blas.NoTrans, blas.Trans, 1, in, W, 1, out)
		for i, z := range out.Data {
			out.Data[i] = math.Tanh(z)
		}
		in = out
	}
	return in.Data
}

// backward adds to grad (laid out as n.params) the gradient of a loss L
// through the m samples x last passed to forward, given t.e[j] = dL/dyhat_j
// where yhat_j = <phi_j, theta> and theta = U w + b (theta_0 when n.r = 0):
// dL/dV for every layer, and dL/dU = (sum_j e_j phi_j) w^T (dL/dtheta_0;
// nothing for a net without a head).
func (n *net) backward(t *tape, x []float64, m int, theta, w []float64, grad []float64) {
	L := len(n.layer)
	h := n.h()
	phi := t.act[L-1][:m*h]
	// Head: dL/dtheta = sum_j e_j phi_j; dL/dU = (dL/dtheta) w^T.
	clear(t.v)
	blas64.Gemv(blas.Trans, 1, blas64.General{Rows: m, Cols: h, Stride: h, Data: phi},
		blas64.Vector{N: m, Inc: 1, Data: t.e[:m]}, 0, blas64.Vector{N: h, Inc: 1, Data: t.v})
	gh := grad[len(grad)-len(n.head):]
	switch {
	case len(n.head) == 0:
	case n.r == 0:
		for a, v := range t.v {
			gh[a] += v
		}
	default:
		for a, v := range t.v {
			for c, wc := range w {
				gh[a*n.r+c] += v * wc
			}
		}
	}
	// dL/dphi_j = e_j theta.
	g := blas64.General{Rows: m, Cols: h, Stride: h, Data: t.g[:m*h]}
	for j := range m {
		row := g.Data[j*h : (j+1)*h]
		for a := range row {
			row[a] = t.e[j] * theta[a]
		}
	}
	off := len(grad) - len(n.head)
	for l := L - 1; l >= 0; l-- {
		k, kin := n.sizes[l+1], n.sizes[l]
		off -= k*kin + k
		out := t.act[l][:m*k]
		// Through tanh: dL/dz = dL/da * (1 - a^2), in place.
		for i, a := range out {
			g.Data[i] *= 1 - a*a
		}
		var in blas64.General
		if l == 0 {
			in = blas64.General{Rows: m, Cols: kin, Stride: kin, Data: x[:m*kin]}
		} else {
			in = blas64.General{Rows: m, Cols: kin, Stride: kin, Data: t.act[l-1][:m*kin]}
		}
		dW := blas64.General{Rows: k, Cols: kin, Stride: kin, Data: grad[off : off+k*kin]}
		blas64.Gemm(blas.Trans, blas.NoTrans, 1, g, in, 1, dW)
		dc := grad[off+k*kin : off+k*kin+k]
		for j := range m {
			for a, v := range g.Data[j*k : (j+1)*k] {
				dc[a] += v
			}
		}
		if l > 0 {
			W, _ := n.weights(l)
			prev := blas64.General{Rows: m, Cols: kin, Stride: kin, Data: t.p[:m*kin]}
			blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, g, W, 0, prev)
			t.g, t.p = t.p, t.g
			g = prev
		}
	}
}

// adam is the Adam optimizer (Kingma and Ba 2015) over a flat vector.
type adam struct {
	lr, b1, b2, eps float64
	m, v            []float64
	t               int
}

func newAdam(n int, lr float64) *adam {
	return &adam{lr: lr, b1: 0.9, b2: 0.999, eps: 1e-8, m: make([]float64, n), v: make([]float64, n)}
}

// step moves p against the gradient g.
func (a *adam) step(p, g []float64) {
	a.t++
	c1 := 1 - math.Pow(a.b1, float64(a.t))
	c2 := 1 - math.Pow(a.b2, float64(a.t))
	for i, gi := range g {
		a.m[i] = a.b1*a.m[i] + (1-a.b1)*gi
		a.v[i] = a.b2*a.v[i] + (1-a.b2)*gi*gi
		p[i] -= a.lr * (a.m[i] / c1) / (math.Sqrt(a.v[i]/c2) + a.eps)
	}
}
