package model

import (
	"bytes"
	"strings"
	"testing"
)

func TestLossRoundTrip(t *testing.T) {
	for _, tc := range []struct{ loss, want string }{
		{"", ""}, {LossSquared, ""}, {LossLogistic, LossLogistic},
	} {
		m := &Model{Method: MethodLowRank, Dim: 2, Rank: 1, Features: []string{"a", "b"}, U: []float64{1, 0},
			Loss: tc.loss, Users: []User{{ID: "u", W: []float64{0.5}}}}
		var buf bytes.Buffer
		if err := Encode(&buf, m); err != nil {
			t.Fatal(err)
		}
		if tc.want == "" && strings.Contains(buf.String(), `"loss"`) {
			t.Errorf("loss %q: the header mentions a loss, so squared-loss files changed", tc.loss)
		}
		got, err := Decode(buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if got.Loss != tc.want {
			t.Errorf("loss %q: decoded %q, want %q", tc.loss, got.Loss, tc.want)
		}
	}
	bad := &Model{Method: MethodLowRank, Dim: 1, Rank: 1, Features: []string{"a"}, U: []float64{1}, Loss: "hinge"}
	if err := bad.Validate(); err == nil {
		t.Fatal("Validate accepted loss \"hinge\"")
	}
}
