package model_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lrsp/lrsp/model"
)

// example returns a model over d = 3 features with a rank-1 U and one user
// whose b has one non-zero.
func example() *model.Model {
	return &model.Model{
		Method: model.MethodLRS, Dim: 3, Rank: 1, Sparsity: 1,
		Features: []string{"x0", "x1", "x2"},
		U:        []float64{0.6, 0.8, 0},
		Users:    []model.User{{ID: "alice", W: []float64{5}, Index: []int32{2}, Value: []float64{-1}}},
		Config:   model.Config{Rounds: 7},
	}
}

func ExampleEncode() {
	var buf bytes.Buffer
	if err := model.Encode(&buf, example()); err != nil {
		fmt.Println(err)
		return
	}
	data := buf.Bytes()
	m, err := model.Decode(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	u := &m.Users[m.Index()["alice"]]
	fmt.Println("theta_alice =", m.Theta(u, make([]float64, m.Dim)), "rounds", m.Config.Rounds)

	// Any damage is detected.
	data[len(data)/2] ^= 1
	_, err = model.Decode(data)
	fmt.Println(err)
	_, err = model.Decode(data[:20])
	fmt.Println(err)
	// Output:
	// theta_alice = [3 4 -1] rounds 7
	// model: checksum mismatch: the file is truncated or corrupted
	// model: checksum mismatch: the file is truncated or corrupted
}

func ExampleSave() {
	dir, err := os.MkdirTemp("", "lrsp-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.lrsp")
	if err := model.Save(path, example()); err != nil {
		fmt.Println(err)
		return
	}
	m, err := model.Load(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s model: d=%d r=%d k=%d, %d user(s), %.0f bytes per user\n", m.Method, m.Dim, m.Rank, m.Sparsity, len(m.Users), m.BytesPerUser())
	// Output: lrs model: d=3 r=1 k=1, 1 user(s), 21 bytes per user
}
