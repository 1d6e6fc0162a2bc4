package serve

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"

	"google.golang.org/protobuf/proto"

	lrspv1 "github.com/lrsp/lrsp/api/gen/lrsp/v1"
	"github.com/lrsp/lrsp/api/gen/lrsp/v1/lrspv1connect"
)

// FuzzPredictBatch sends arbitrary bodies to PredictBatch as Connect
// protocol requests (application/proto): the server must answer either a
// response with one finite prediction per item of the decoded request, or
// a Connect error in JSON with a code, never panic or hang.
func FuzzPredictBatch(f *testing.F) {
	for _, req := range []*lrspv1.PredictBatchRequest{
		{Items: []*lrspv1.PredictItem{{User: "u1", Features: []float64{1, 2, 3}}}},
		{Items: []*lrspv1.PredictItem{{User: "u1", Features: []float64{1, 2, 3}}, {User: "u2", Features: []float64{-1, 0.5, 1e3}}}},
		{Items: []*lrspv1.PredictItem{{User: "nobody", Features: []float64{1, 2, 3}}}},
		{Items: []*lrspv1.PredictItem{{User: "u1", Features: []float64{1e308, 1e308, 0}}}},
		{Items: []*lrspv1.PredictItem{{User: "u1", Features: []float64{math.NaN(), 2, 3}}}},
		{Items: []*lrspv1.PredictItem{{User: "u1"}}},
		{},
	} {
		b, err := proto.Marshal(req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	srv := tinyServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", lrspv1connect.PredictServicePredictBatchProcedure, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/proto")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, r)
		if rec.Code == http.StatusOK {
			var req lrspv1.PredictBatchRequest
			if err := proto.Unmarshal(body, &req); err != nil {
				t.Fatalf("200 for a body that does not decode: %v", err)
			}
			var resp lrspv1.PredictBatchResponse
			if err := proto.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
				t.Fatalf("200 with a response that does not decode: %v", err)
			}
			if len(resp.Predictions) != len(req.Items) || len(req.Items) == 0 {
				t.Fatalf("%d predictions for %d items", len(resp.Predictions), len(req.Items))
			}
			for i, p := range resp.Predictions {
				if math.IsNaN(p) || math.IsInf(p, 0) {
					t.Fatalf("prediction %d is %v", i, p)
				}
			}
			return
		}
		var e struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == "" || e.Message == "" {
			t.Fatalf("status %d, body %q: not a Connect error (%v)", rec.Code, rec.Body.Bytes(), err)
		}
		if e.Code == "internal" || e.Code == "unknown" {
			t.Fatalf("status %d: %s %s", rec.Code, e.Code, e.Message)
		}
	})
}
