package serve

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/store"
)

// TestPrivateModelRefusesGlobalFallback checks that a server refuses to
// start with --unknown global on a model with a privacy ledger or a DP
// configuration (the fallback averages every user's private w), and starts
// with the default 404 policy.
func TestPrivateModelRefusesGlobalFallback(t *testing.T) {
	f := trained(t)
	ledger := *f.m
	ledger.Privacy = &model.Ledger{Mechanism: "test", Clip: 1, NoiseMultiplier: 1, Rounds: 1, SampleRate: 1, Epsilon: 1, Delta: 1e-6}
	cfg := *f.m
	cfg.Config.DP = &model.DPConfig{Clip: 1, NoiseMultiplier: 1, SampleRate: 1, Delta: 1e-6}
	for name, m := range map[string]*model.Model{"ledger": &ledger, "dp config": &cfg} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "users.db")
			if err := store.Import(context.Background(), path, m, store.ImportOptions{}); err != nil {
				t.Fatal(err)
			}
			st, err := store.Open(path, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			_, err = New(st, Options{Unknown: eval.UnknownGlobal})
			if !errors.Is(err, model.ErrPrivateFallback) || !strings.HasPrefix(err.Error(), "serve: ") ||
				!strings.Contains(err.Error(), "--unknown global") || !strings.Contains(err.Error(), "private") {
				t.Fatalf("New with --unknown global on a private model: %v, want a serve error wrapping model.ErrPrivateFallback", err)
			}
			if _, err := New(st, Options{}); err != nil {
				t.Fatalf("New with unknown users as 404: %v", err)
			}
		})
	}
}
