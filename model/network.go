package model

import (
	"errors"
	"fmt"
	"math"
)

// Methods of models with a shared neural network (Model.Network = phi).
// A MethodGlobal model with a Network predicts <phi(x), theta_0> for every
// user (the global network).
const (
	// MethodNeuralLRS names a model whose linear part acts on the features
	// of a shared neural network: user i predicts <phi(x), U w_i + b_i>.
	MethodNeuralLRS = "neural-lrs"
	// MethodNeuralDense names a model in which user i predicts
	// <phi(x), theta_i> with a dense per-user head theta_i, stored as a b_i
	// with all Dim entries (Rank 0, Sparsity Dim): the FedRep / FedPer
	// style.
	MethodNeuralDense = "neural-dense"
	// MethodNeuralGlobal names the global network as a method to train;
	// the model it makes has Method MethodGlobal and a Network.
	MethodNeuralGlobal = "neural-global"
)

// Activations a Network can use between its layers.
const (
	// ActivationTanh is the hyperbolic tangent.
	ActivationTanh = "tanh"
)

// MaxNetworkWeights bounds the number of weights of a Network, so that a
// corrupted header cannot make Decode allocate without limit.
const MaxNetworkWeights = 1 << 26

// Network is a shared multilayer perceptron phi that maps a sample's input
// features to the Dim features over which a model's theta_i acts:
//
//	h_0 = x,  h_l = act(W_l h_{l-1} + c_l) for l = 1..L,  phi(x) = h_L.
//
// Every layer, the last one included, applies the activation.
type Network struct {
	// Inputs names the input features, in the order of x.
	Inputs []string
	// Sizes holds the layer widths len(Inputs), h_1, ..., h_L; h_L is the
	// model's Dim.
	Sizes []int
	// Activation names the activation (ActivationTanh).
	Activation string
	// Layers holds, for l = 1..L, the weights W_l (Sizes[l] x Sizes[l-1],
	// row-major) followed by the biases c_l (Sizes[l]).
	Layers [][]float64
}

// LayerLen returns the number of values of layer l (1-based): its weights
// and biases.
func (n *Network) LayerLen(l int) int { return n.Sizes[l]*n.Sizes[l-1] + n.Sizes[l] }

// validate checks n's sizes and values against the model dimension d.
func (n *Network) validate(d int) error {
	if len(n.Sizes) < 2 {
		return fmt.Errorf("model: network has %d layer sizes, want at least 2", len(n.Sizes))
	}
	if n.Activation != ActivationTanh {
		return fmt.Errorf("model: network activation %q, want %q", n.Activation, ActivationTanh)
	}
	if len(n.Inputs) != n.Sizes[0] {
		return fmt.Errorf("model: network has %d input names for %d inputs", len(n.Inputs), n.Sizes[0])
	}
	if last := n.Sizes[len(n.Sizes)-1]; last != d {
		return fmt.Errorf("model: network's last layer has %d units, the model's dimension is %d", last, d)
	}
	if len(n.Layers) != len(n.Sizes)-1 {
		return fmt.Errorf("model: network has %d weight layers for %d sizes", len(n.Layers), len(n.Sizes))
	}
	total := 0
	for l, s := range n.Sizes {
		if s <= 0 || s > MaxNetworkWeights {
			return fmt.Errorf("model: network layer %d has width %d", l, s)
		}
		if l > 0 {
			if total += s*n.Sizes[l-1] + s; total > MaxNetworkWeights {
				return fmt.Errorf("model: network has more than %d weights", MaxNetworkWeights)
			}
		}
	}
	for l, w := range n.Layers {
		if len(w) != n.LayerLen(l+1) {
			return fmt.Errorf("model: network layer %d has %d values, want %d", l+1, len(w), n.LayerLen(l+1))
		}
		if !finite(w) {
			return fmt.Errorf("model: network layer %d has a non-finite value", l+1)
		}
	}
	return nil
}

// Apply writes phi(x) into dst (length the last layer's width) and returns
// dst. x must have Sizes[0] values. It allocates two buffers of the widest
// layer's size per call; see Forward for a version without allocations.
func (n *Network) Apply(x, dst []float64) []float64 {
	w := 0
	for _, s := range n.Sizes {
		w = max(w, s)
	}
	return n.Forward(x, dst, make([]float64, w), make([]float64, w))
}

// Forward is Apply with caller-provided scratch buffers a and b, each at
// least as long as the widest layer.
func (n *Network) Forward(x, dst, a, b []float64) []float64 {
	in := x
	L := len(n.Sizes) - 1
	for l := 1; l <= L; l++ {
		rows, cols := n.Sizes[l], n.Sizes[l-1]
		out := a[:rows]
		if l == L {
			out = dst[:rows]
		}
		W, c := n.Layers[l-1][:rows*cols], n.Layers[l-1][rows*cols:]
		for j := range rows {
			s := c[j]
			row := W[j*cols : (j+1)*cols]
			for q, v := range in[:cols] {
				s += row[q] * v
			}
			out[j] = math.Tanh(s)
		}
		in = out
		a, b = b, a
	}
	return dst
}

// networkHeader is the JSON description of a Network in the model file
// header; the weights follow the users in the binary part.
type networkHeader struct {
	Inputs     []string `json:"inputs"`
	Sizes      []int    `json:"sizes"`
	Activation string   `json:"activation"`
}

// check validates a network description read from a file before anything
// is allocated for its weights.
func (h *networkHeader) check(d int) error {
	if len(h.Sizes) < 2 {
		return errors.New("model: header: network with fewer than 2 layer sizes")
	}
	total := 0
	for l, s := range h.Sizes {
		if s <= 0 || s > MaxNetworkWeights {
			return fmt.Errorf("model: header: network layer %d has width %d", l, s)
		}
		if l > 0 {
			if total += s*h.Sizes[l-1] + s; total > MaxNetworkWeights {
				return fmt.Errorf("model: header: network has more than %d weights", MaxNetworkWeights)
			}
		}
	}
	if h.Sizes[len(h.Sizes)-1] != d || len(h.Inputs) != h.Sizes[0] {
		return fmt.Errorf("model: header: network sizes %v do not fit %d input names and dimension %d", h.Sizes, len(h.Inputs), d)
	}
	return nil
}
