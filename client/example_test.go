package client_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"

	"connectrpc.com/connect"

	"github.com/lrsp/lrsp/client"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/serve"
	"github.com/lrsp/lrsp/store"
)

// serveTiny serves a 3-feature model with user u1 (theta = [2, 1, 0]) as
// "lrsp serve" does, and returns its URL and a function that stops it.
func serveTiny() (string, func()) {
	dir, err := os.MkdirTemp("", "lrsp-client-example")
	if err != nil {
		log.Fatal(err)
	}
	m := &model.Model{Method: model.MethodLRS, Dim: 3, Rank: 1, Sparsity: 1, Features: []string{"a", "b", "c"},
		U: []float64{1, 0, 0}, Users: []model.User{{ID: "u1", W: []float64{2}, Index: []int32{1}, Value: []float64{1}}}}
	path := filepath.Join(dir, "users.db")
	if err := store.Import(context.Background(), path, m, store.ImportOptions{}); err != nil {
		log.Fatal(err)
	}
	st, err := store.Open(path, store.Options{})
	if err != nil {
		log.Fatal(err)
	}
	srv, err := serve.New(st, serve.Options{})
	if err != nil {
		log.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv)
	ts.Config.Protocols = serve.Protocols()
	ts.Start()
	return ts.URL, func() { ts.Close(); st.Close(); os.RemoveAll(dir) }
}

func Example() {
	url, stop := serveTiny() // e.g. "http://127.0.0.1:8080" of "lrsp serve"
	defer stop()

	c, err := client.New(url, client.Options{Protocol: client.GRPC})
	if err != nil {
		log.Fatal(err)
	}
	preds, _, err := c.Predict(context.Background(), []client.Item{
		{User: "u1", Features: []float64{1, 2, 3}},
		{User: "u1", Features: []float64{0.5, 0, 0}},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(preds)

	_, _, err = c.Predict(context.Background(), []client.Item{{User: "nobody", Features: []float64{1, 2, 3}}})
	fmt.Println(connect.CodeOf(err))
	// Output:
	// [4 1]
	// not_found
}
