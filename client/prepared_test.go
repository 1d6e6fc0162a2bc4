package client_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"connectrpc.com/connect"

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

// TestPredictPreparedErrors checks that a prepared request over gRPC,
// which the client sends without connect, fails with the code and message
// that PredictBatch gives for the same request.
func TestPredictPreparedErrors(t *testing.T) {
	url, stop := serveTiny()
	defer stop()
	x := []float64{1, 2, 3}
	for _, tc := range []struct {
		name  string
		items []*lrspv1.PredictItem
		code  connect.Code
	}{
		{"unknown user", []*lrspv1.PredictItem{{User: "u1", Features: x}, {User: "nobody", Features: x}}, connect.CodeNotFound},
		{"empty batch", nil, connect.CodeInvalidArgument},
		{"dimension", []*lrspv1.PredictItem{{User: "u1", Features: x[:2]}}, connect.CodeInvalidArgument},
		{"bad user ID", []*lrspv1.PredictItem{{User: "a b", Features: x}}, connect.CodeInvalidArgument},
		{"overflow", []*lrspv1.PredictItem{{User: "u1", Features: []float64{1e308, 1e308, 0}}}, connect.CodeOutOfRange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := client.New(url, client.Options{Protocol: client.GRPC})
			if err != nil {
				t.Fatal(err)
			}
			req := &lrspv1.PredictBatchRequest{Items: tc.items}
			_, werr := c.PredictBatch(context.Background(), req)
			prep, err := c.Prepare(req)
			if err != nil {
				t.Fatal(err)
			}
			_, gerr := c.PredictPrepared(context.Background(), prep)
			var we, ge *connect.Error
			if !errors.As(werr, &we) || !errors.As(gerr, &ge) {
				t.Fatalf("PredictBatch: %v; PredictPrepared: %v; want connect errors", werr, gerr)
			}
			if ge.Code() != tc.code || we.Code() != tc.code || ge.Message() != we.Message() {
				t.Fatalf("PredictPrepared: %v %q; PredictBatch: %v %q; want code %v and the same message", ge.Code(), ge.Message(), we.Code(), we.Message(), tc.code)
			}
		})
	}
	other, err := client.New(url, client.Options{Protocol: client.Connect})
	if err != nil {
		t.Fatal(err)
	}
	prep, err := other.Prepare(&lrspv1.PredictBatchRequest{Items: []*lrspv1.PredictItem{{User: "u1", Features: x}}})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := client.New(url, client.Options{Protocol: client.GRPC})
	if _, err := c.PredictPrepared(context.Background(), prep); err == nil {
		t.Fatal("a request prepared by another client was sent")
	}
}
