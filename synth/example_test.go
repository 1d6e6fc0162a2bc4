package synth_test

import (
	"fmt"

	"github.com/lrsp/lrsp/synth"
)

func ExampleGenerate() {
	data, err := synth.Generate(synth.Options{Users: 100, Samples: 20, Dim: 50, Rank: 3, Sparsity: 2,
		NewUsers: 10, TestSamples: 5, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	u := data.Train.Users[0]
	fmt.Printf("train: %d users x %d samples over %d features\n", len(data.Train.Users), u.Len(), data.Train.Dim())
	fmt.Printf("new: %d users; test: %d samples\n", len(data.New.Users), data.Test.Samples())
	t := data.Truth.Users[u.ID]
	fmt.Printf("user %s: w has %d numbers, b has %d non-zeros\n", u.ID, len(t.W), len(t.B))

	// Without noise, y is exactly <x, theta>.
	theta, _ := data.Truth.Theta(u.ID)
	y := 0.0
	for j, x := range u.X[:data.Train.Dim()] {
		y += x * theta[j]
	}
	fmt.Println("y == <x, theta>:", y == u.Y[0])
	// Output:
	// train: 100 users x 20 samples over 50 features
	// new: 10 users; test: 550 samples
	// user u0: w has 3 numbers, b has 2 non-zeros
	// y == <x, theta>: true
}
