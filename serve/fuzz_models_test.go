package serve

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/store"
)

// FuzzPutUserModels checks that the personalization handler of a logistic
// model and of a network model answers every body with a well-formed JSON
// response of an expected status (never a 500, never a panic).
func FuzzPutUserModels(f *testing.F) {
	for _, s := range []string{
		`{"samples":[{"features":[1,2,3],"y":1},{"features":{"x0":1,"x1":0,"x2":2},"y":0}]}`,
		`{"samples":[{"features":[1e300,-1e300,3],"y":1},{"features":[1,2,3],"y":0}]}`,
		`{"samples":[{"features":[1,2,3],"y":0.5}]}`,
		`{"samples":[{"features":[1,2,3],"y":1e308},{"features":[0,0,0],"y":-1e308}]}`,
	} {
		f.Add([]byte(s))
	}
	servers := map[string]*Server{}
	for name, m := range map[string]*model.Model{
		"logistic": handModel(model.MethodLRS, model.LossLogistic, 3, 1, 1, 2, 0, nil, 1),
		"neural":   handModel(model.MethodNeuralLRS, "", 3, 2, 1, 2, 3, []int{4, 3}, 2),
	} {
		if m.Network != nil {
			m.Network.Inputs = []string{"x0", "x1", "x2"}
		} else {
			m.Features = []string{"x0", "x1", "x2"}
		}
		path := filepath.Join(f.TempDir(), name+".db")
		if err := store.Import(context.Background(), path, m, store.ImportOptions{}); err != nil {
			f.Fatal(err)
		}
		st, err := store.Open(path, store.Options{})
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { st.Close() })
		if servers[name], err = New(st, Options{MaxSamples: 20, MaxBodyBytes: 1 << 16}); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, srv := range servers {
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, httptest.NewRequest("PUT", "/v1/users/fuzz", bytes.NewReader(body)))
			checkResponse(t, rec, body, http.StatusOK, http.StatusCreated, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity)
		}
	})
}
