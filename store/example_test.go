package store_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/store"
)

// Example imports a small model into a store, reads, adds and deletes
// users, and exports the store back to a model.
func Example() {
	dir, err := os.MkdirTemp("", "store-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "users.db")

	// d = 3 features, r = 1, k = 1.
	m := &model.Model{Method: model.MethodLRS, Dim: 3, Rank: 1, Sparsity: 1,
		Features: []string{"a", "b", "c"}, U: []float64{1, 0, 0},
		Users: []model.User{
			{ID: "alice", W: []float64{2}, Index: []int32{2}, Value: []float64{0.5}},
			{ID: "bob", W: []float64{-1}},
		}}
	if err := store.Import(context.Background(), path, m, store.ImportOptions{}); err != nil {
		log.Fatal(err)
	}

	s, err := store.Open(path, store.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	alice, err := s.Get("alice")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("alice theta:", s.Model().Theta(&alice, make([]float64, 3)))
	fmt.Println("fallback w:", s.Fallback().W)

	if _, err := s.Put(model.User{ID: "carol", W: []float64{4}, Index: []int32{1}, Value: []float64{1}}); err != nil {
		log.Fatal(err)
	}
	if _, err := s.Delete("bob"); err != nil {
		log.Fatal(err)
	}
	out, err := s.Export(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, u := range out.Users {
		fmt.Println(u.ID, u.W, u.Index, u.Value)
	}
	// Output:
	// alice theta: [2 0 0.5]
	// fallback w: [0.5]
	// alice [2] [2] [0.5]
	// carol [4] [1] [1]
}
