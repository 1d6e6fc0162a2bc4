package serve

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"testing"

	"connectrpc.com/connect"

	"github.com/lrsp/lrsp/client"
	"github.com/lrsp/lrsp/model"
)

// TestPredictSeesWrites checks that predictions, which read users through
// the store's cache, follow PUT and DELETE at once over JSON and the
// binary API: a user is predicted (and so cached), re-personalized with
// other samples, predicted again with its new parameters, deleted (404 on
// both), and created again.
func TestPredictSeesWrites(t *testing.T) {
	f := trained(t)
	ts, st := newTestServer(t, f.m, Options{})
	c := newClient(t, ts.URL, client.Connect, "")
	id := f.m.Users[3].ID
	x := []float64{0.3, -1, 2, 0.5, 0, 1, -0.25, 4, 1, 1, -2, 0.75}
	want := func() float64 {
		u, err := st.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		th := f.m.Theta(&u, make([]float64, f.m.Dim))
		s := 0.0
		for j := range x {
			s += x[j] * th[j]
		}
		return s
	}
	check := func(stage string) {
		t.Helper()
		w := want()
		code, body := do(t, "POST", ts.URL+"/v1/predict", "", map[string]any{"user": id, "features": x})
		var one struct{ Prediction float64 }
		if code != http.StatusOK || json.Unmarshal(body, &one) != nil || one.Prediction != w {
			t.Fatalf("%s: JSON %d %s, want %v", stage, code, body, w)
		}
		preds, _, err := c.Predict(context.Background(), []client.Item{{User: id, Features: x}})
		if err != nil || preds[0] != w {
			t.Fatalf("%s: binary %v %v, want %v", stage, preds, err, w)
		}
	}
	check("stored")
	check("cached")
	before := want()
	// New samples from theta = 3 e_0 - e_5, far from the user's.
	var samples []map[string]any
	for s := range 20 {
		xs := make([]float64, 12)
		for j := range xs {
			xs[j] = math.Sin(float64(7*s + 3*j + 1))
		}
		samples = append(samples, map[string]any{"features": xs, "y": 3*xs[0] - xs[5]})
	}
	if code, body := do(t, "PUT", ts.URL+"/v1/users/"+id, "", map[string]any{"samples": samples}); code != http.StatusOK {
		t.Fatalf("PUT: %d %s", code, body)
	}
	if want() == before {
		t.Fatal("the PUT did not change the user's prediction: the test cannot tell")
	}
	check("after PUT")
	if code, body := do(t, "DELETE", ts.URL+"/v1/users/"+id, "", nil); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	if code, body := do(t, "POST", ts.URL+"/v1/predict", "", map[string]any{"user": id, "features": x}); code != http.StatusNotFound {
		t.Fatalf("JSON after DELETE: %d %s", code, body)
	}
	if _, _, err := c.Predict(context.Background(), []client.Item{{User: id, Features: x}}); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("binary after DELETE: %v", err)
	}
	if _, err := st.Put(model.User{ID: id, W: f.m.Users[3].W, Index: f.m.Users[3].Index, Value: f.m.Users[3].Value}); err != nil {
		t.Fatal(err)
	}
	check("re-created")
}
