package client_test

import (
	"context"
	"slices"
	"testing"

	lrspv1 "github.com/lrsp/lrsp/api/gen/lrsp/v1"
	"github.com/lrsp/lrsp/client"
)

// TestPredictPrepared checks that a prepared request, sent several times
// over both protocols, answers what PredictBatch answers for the request
// it was prepared from, even after that request changes, and that
// unprepared requests still encode normally on the same client.
func TestPredictPrepared(t *testing.T) {
	url, stop := serveTiny()
	defer stop()
	for _, p := range []client.Protocol{client.GRPC, client.Connect} {
		c, err := client.New(url, client.Options{Protocol: p})
		if err != nil {
			t.Fatal(err)
		}
		req := &lrspv1.PredictBatchRequest{Items: []*lrspv1.PredictItem{
			{User: "u1", Features: []float64{1, 2, 3}}, {User: "u1", Features: []float64{0.5, 0, 0}}}}
		want, err := c.PredictBatch(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		prep, err := c.Prepare(req)
		if err != nil {
			t.Fatal(err)
		}
		req.Items[0].Features[0] = 100 // the prepared encoding must not change
		for range 3 {
			got, err := c.PredictPrepared(context.Background(), prep)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Predictions, want.Predictions) || !slices.Equal(want.Predictions, []float64{4, 1}) {
				t.Fatalf("%v: prepared %v, unprepared %v, want [4 1]", p, got.Predictions, want.Predictions)
			}
		}
		again, err := c.PredictBatch(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if again.Predictions[0] != 2*100+2 {
			t.Fatalf("%v: the changed request predicts %v, want 202", p, again.Predictions)
		}
	}
}
