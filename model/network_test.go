package model

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

// networkModel returns a neural-lrs model with a 3 -> 2 -> 2 network.
func networkModel() *Model {
	return &Model{Method: MethodNeuralLRS, Dim: 2, Rank: 1, Sparsity: 1, Features: []string{"h2_1", "h2_2"},
		U: []float64{0.6, 0.8}, Users: []User{{ID: "u", W: []float64{1.5}, Index: []int32{1}, Value: []float64{-0.5}}},
		Network: &Network{Inputs: []string{"a", "b", "c"}, Sizes: []int{3, 2, 2}, Activation: ActivationTanh,
			Layers: [][]float64{
				{0.1, -0.2, 0.3, 0.4, 0.5, -0.6, 0.05, -0.05},
				{1, 2, -1, 0.5, 0.25, -0.25},
			}}}
}

func TestNetworkApply(t *testing.T) {
	n := networkModel().Network
	for _, x := range [][]float64{{0, 0, 0}, {1, -2, 0.5}, {3, 1, -1}} {
		// Written out by hand from the layer layout.
		h1 := []float64{
			math.Tanh(0.1*x[0] - 0.2*x[1] + 0.3*x[2] + 0.05),
			math.Tanh(0.4*x[0] + 0.5*x[1] - 0.6*x[2] - 0.05),
		}
		want := []float64{math.Tanh(1*h1[0] + 2*h1[1] + 0.25), math.Tanh(-1*h1[0] + 0.5*h1[1] - 0.25)}
		got := n.Apply(x, make([]float64, 2))
		for j := range want {
			if math.Abs(got[j]-want[j]) > 1e-15 {
				t.Errorf("Apply(%v)[%d] = %v, want %v", x, j, got[j], want[j])
			}
		}
	}
}

func TestNetworkRoundTrip(t *testing.T) {
	m := networkModel()
	b := encode(t, m)
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := sameModel(m, got); d != "" {
		t.Fatal(d)
	}
	n := got.Network
	if n == nil || strings.Join(n.Inputs, ",") != "a,b,c" || n.Activation != ActivationTanh || len(n.Layers) != 2 {
		t.Fatalf("decoded network %+v", n)
	}
	for l := range n.Layers {
		if !sameFloats(n.Layers[l], m.Network.Layers[l]) {
			t.Errorf("layer %d: %v, want %v", l+1, n.Layers[l], m.Network.Layers[l])
		}
	}
	// A linear model's file has no network key.
	lin := networkModel()
	lin.Network, lin.Method, lin.Features = nil, MethodLRS, []string{"a", "b"}
	if bytes.Contains(encode(t, lin), []byte(`"network"`)) {
		t.Error("a model without a network mentions one in its header")
	}
}

// TestNetworkOldReader checks that a reader that ignores the network key
// (as readers before it did) fails on the file instead of mis-predicting:
// the weights are trailing bytes for it.
func TestNetworkOldReader(t *testing.T) {
	b := encode(t, networkModel())
	hlen := int(binary.LittleEndian.Uint32(b[12:]))
	head := string(b[16 : 16+hlen])
	i := strings.Index(head, `,"network":`)
	if i < 0 {
		t.Fatalf("header %s has no network key", head)
	}
	// Blank the key out: same length, so the layout is kept.
	blank := head[:i] + strings.Repeat(" ", len(head)-i-1) + "}"
	old := append([]byte(nil), b[:len(b)-4]...)
	copy(old[16:], blank)
	_, err := Decode(withCRC(old))
	if err == nil || !strings.Contains(err.Error(), "trailing") {
		t.Fatalf("decode without the network key: %v, want a trailing-bytes error", err)
	}
}

func TestNetworkInvalid(t *testing.T) {
	for name, edit := range map[string]func(m *Model){
		"last layer not Dim": func(m *Model) { m.Network.Sizes = []int{3, 2, 3} },
		"input names":        func(m *Model) { m.Network.Inputs = m.Network.Inputs[:2] },
		"activation":         func(m *Model) { m.Network.Activation = "relu" },
		"short layer":        func(m *Model) { m.Network.Layers[1] = m.Network.Layers[1][:5] },
		"missing layer":      func(m *Model) { m.Network.Layers = m.Network.Layers[:1] },
		"non-finite weight":  func(m *Model) { m.Network.Layers[0][3] = math.NaN() },
		"one size":           func(m *Model) { m.Network.Sizes = []int{2} },
		"zero width":         func(m *Model) { m.Network.Sizes = []int{3, 0, 2} },
	} {
		m := networkModel()
		edit(m)
		if err := m.Validate(); err == nil {
			t.Errorf("%s: Validate accepted the model", name)
		}
	}
	// Truncated weights are an error, not a short network.
	b := encode(t, networkModel())
	short := withCRC(b[:len(b)-4-8])
	if _, err := Decode(short); err == nil || !strings.Contains(err.Error(), "network") {
		t.Errorf("decode with a truncated network: %v", err)
	}
}
