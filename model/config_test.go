package model

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/internal/fit"
)

// TestLegacyConfig checks that the string maps of version-1 files parse
// into the typed fields, keep unknown keys, and reject values that do not
// parse, naming the key.
func TestLegacyConfig(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Config
		err  string
	}{
		{"amht", `{"rank":"5","sparsity":"3","rounds":"50","tolerance":"1e-06","init":"moments","update":"cg",
			"threshold":"topk","pursuit":"htp","ridge":"0.5","seed":"7","refresh":"8"}`,
			Config{Version: 1, Rank: 5, Sparsity: 3, Rounds: 50, Tolerance: 1e-6, Init: "moments", Update: "cg",
				Threshold: "topk", Pursuit: fit.PursuitHTP, Ridge: 0.5, Seed: 7, Refresh: 8}, ""},
		{"baseline", `{"method":"finetune","ridge":"0.1","unpenalized":"0,3","center":"true","theta0_ridge":"0.1"}`,
			Config{Version: 1, Method: "finetune", Ridge: 0.1, Unpenalized: []int{0, 3}, Center: true, Theta0Ridge: 0.1}, ""},
		{"logistic", `{"loss":"logistic","method":"local","ridge":"0.001","newton_steps":"25"}`,
			Config{Version: 1, Loss: LossLogistic, Method: "local", Ridge: 0.001, NewtonSteps: 25}, ""},
		{"neural dense", `{"method":"neural-dense","hidden":"64,32","dense_ridge":"leave-one-out per user, relative grid 1e-4..10","batch":"16","learning_rate":"0.003"}`,
			Config{Version: 1, Method: "neural-dense", Hidden: []int{64, 32}, Batch: 16, LearningRate: 0.003}, ""},
		{"dp", `{"rank":"2","dp-clip":"1","dp-step":"1","dp-init":"private","dp-sample-rate":"0.5","dp-noise-multiplier":"1.2","pursuit":"swap"}`,
			Config{Version: 1, Rank: 2, DP: &DPConfig{Clip: 1, StepSize: 1, Init: "private", SampleRate: 0.5, NoiseMultiplier: 1.2}}, ""},
		{"unknown keys kept", `{"engine":"prism","generator":"random-model","selected_by":"validation"}`,
			Config{Version: 1, Engine: "prism", SelectedBy: "validation", Extra: map[string]string{"generator": "random-model"}}, ""},
		{"empty", `{}`, Config{}, ""},
		{"null", `null`, Config{}, ""},
		{"bad number", `{"ridge":"lots"}`, Config{}, `ridge = "lots" is not a number`},
		{"NaN ridge", `{"ridge":"NaN"}`, Config{}, "ridge NaN must be finite"},
		{"negative ridge", `{"ridge":"-1"}`, Config{}, "ridge -1 must be finite"},
		{"bad pursuit", `{"pursuit":"best"}`, Config{}, `unknown pursuit "best"`},
		{"bad list", `{"hidden":"64,x"}`, Config{}, "hidden"},
		{"not strings", `{"ridge":1}`, Config{}, "version 1, string values"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			err := json.Unmarshal([]byte(tc.in), &c)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c, tc.want) {
				t.Fatalf("got %+v\nwant %+v", c, tc.want)
			}
		})
	}
}

// TestConfigRoundTrip checks that a typed configuration survives JSON
// with its version, and that version-2 JSON is strict.
func TestConfigRoundTrip(t *testing.T) {
	in := Config{Method: "neural-lrs", Rank: 3, Sparsity: 1, Ridge: 0.25, Pursuit: fit.PursuitGreedy, Hidden: []int{8, 4},
		Batch: 16, LearningRate: 0.003, Seed: 1<<63 + 5, DP: &DPConfig{Clip: 2, Init: "random", Delta: 1e-6},
		Extra: map[string]string{"note": "a\nb"}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Config
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	in.Version = ConfigVersion
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip\n%+v\ngave\n%+v (%s)", in, out, b)
	}
	for _, tc := range []struct{ in, err string }{
		{`{"version":2,"ridge":1,"colour":"red"}`, "unknown field"},
		{`{"version":4}`, "version 4"},
		{`{"version":1,"ridge":1}`, "typed configurations start at version 2"},
		{`{"version":2,"ridge":"1"}`, "cannot unmarshal"},
		{`{"version":2,"pursuit":"fast"}`, "unknown pursuit"},
		{`{"version":2,"hidden":[4,0]}`, "width 0"},
		{`{"version":2,"dp":{"sample_rate":2}}`, "sample rate"},
	} {
		var c Config
		if err := json.Unmarshal([]byte(tc.in), &c); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error %v, want one containing %q", tc.in, err, tc.err)
		}
	}
}

// TestConfigValidate checks the shared checks, naming the field.
func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		c   Config
		d   int
		err string
	}{
		{Config{Ridge: math.Inf(1)}, 3, "ridge"},
		{Config{Ridge: math.NaN()}, 3, "ridge"},
		{Config{Theta0Ridge: -1}, 3, "theta0_ridge"},
		{Config{Rank: -1}, 3, "rank"},
		{Config{Pursuit: 7}, 3, "pursuit"},
		{Config{Loss: "hinge"}, 3, "loss"},
		{Config{Unpenalized: []int{3}}, 3, "unpenalized"},
		{Config{Unpenalized: []int{1, 1}}, 3, "unpenalized"},
		{Config{Version: 9}, 3, "version 9"},
		{Config{Unpenalized: []int{0, 2}, Ridge: 1}, 3, ""},
	} {
		err := tc.c.Validate(tc.d)
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%+v: error %v, want %q", tc.c, err, tc.err)
		}
	}
}

// FuzzConfigJSON checks that decoding any JSON as a configuration either
// fails or gives a configuration that validates and survives a round
// trip.
func FuzzConfigJSON(f *testing.F) {
	for _, s := range []string{`{"rank":"5","ridge":"0.1","pursuit":"htp"}`, `{"version":2,"hidden":[3],"dp":{"clip":1}}`,
		`{"unpenalized":"0,2","extra":"x"}`, `null`, `{"version":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var c Config
		if err := json.Unmarshal(b, &c); err != nil {
			return
		}
		if err := c.Validate(0); err != nil {
			t.Fatalf("decoded config does not validate: %v", err)
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		var back Config
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("re-decode %s: %v", out, err)
		}
	})
}
