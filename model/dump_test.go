package model

import (
	"encoding/json"
	"maps"
	"testing"
)

// TestDump checks the JSON of Model.Dump, with and without a configuration,
// a shared offset and a ledger.
func TestDump(t *testing.T) {
	base := Model{Method: MethodLRS, Dim: 2, Rank: 1, Sparsity: 1, Features: []string{"a", "b"}, U: []float64{0.6, 0.8},
		Users: []User{{ID: "u1", W: []float64{2}, Index: []int32{1}, Value: []float64{-0.5}}, {ID: "u2", W: []float64{0}}}}
	withAll := base
	withAll.Theta0 = []float64{1, 0}
	withAll.Config = Config{Version: ConfigVersion, Method: MethodLRS, Rank: 1, Sparsity: 1}
	withAll.Privacy = &Ledger{Mechanism: "gaussian", Rounds: 3}
	cases := []struct {
		name string
		m    Model
		want string
	}{
		{"bare", base, `{"method":"lrs","d":2,"r":1,"k":1,"features":["a","b"],"U":[[0.6],[0.8]],` +
			`"users":{"u1":{"w":[2],"b":{"1":-0.5}},"u2":{"w":[0],"b":{}}}}`},
		{"config, theta0 and ledger", withAll, `{"method":"lrs","d":2,"r":1,"k":1,"features":["a","b"],"U":[[0.6],[0.8]],` +
			`"theta0":[1,0],"users":{"u1":{"w":[2],"b":{"1":-0.5}},"u2":{"w":[0],"b":{}}},` +
			`"config":{"version":3,"method":"lrs","rank":1,"sparsity":1,"ridge":0,"pursuit":"swap"},` +
			`"privacy":{"mechanism":"gaussian","clip":0,"noise_multiplier":0,"rounds":3,"sample_rate":0,"epsilon":0,"delta":0,"accountant":"","init":""}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := json.Marshal(c.m.Dump())
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != c.want {
				t.Errorf("got\n%s\nwant\n%s", b, c.want)
			}
		})
	}
}

// TestConfigFields checks that Fields gives every encoded field as its JSON
// text.
func TestConfigFields(t *testing.T) {
	cases := []struct {
		name string
		c    Config
		want map[string]string
	}{
		{"zero", Config{}, map[string]string{"version": "3", "rank": "0", "sparsity": "0", "ridge": "0", "pursuit": `"swap"`}},
		{"set", Config{Method: "lrs", Rank: 3, Ridge: 0.5, Hidden: []int{4, 2}, Init: "moments"}, map[string]string{
			"version": "3", "method": `"lrs"`, "rank": "3", "sparsity": "0", "ridge": "0.5", "pursuit": `"swap"`,
			"hidden": "[4,2]", "init": `"moments"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.c.Fields()
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}
