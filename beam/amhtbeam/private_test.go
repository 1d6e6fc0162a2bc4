package amhtbeam

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPrivatePassNoisedInEngine checks that a private pass's sum is noised
// before it leaves the engine: for the Beam pipeline the sum Run returns is
// the one read back from the file in TempDir, and it must differ from the
// exact sum by noise of the configured scale, with the user count exact;
// the in-process engine adds the same noise for the same fixed seed, and
// fresh (secret) noise on every run otherwise.
func TestPrivatePassNoisedInEngine(t *testing.T) {
	data := tinyData(t, 2)
	recs, err := RecordsOf(data.Train)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	beamEng := &Pipeline{Runner: "prism", Records: recs, TempDir: dir}
	local := &InProcess{Source: data.Train}
	const d, r, sd = 20, 2, 1e3
	pass := func(sd float64, seed uint64) Pass {
		return Pass{Round: 3, Config: StepConfig{Kind: passRound, D: d, R: r, K: 2, Private: true, Clip: 1,
			NoiseSD: sd, NoiseSeed: seed}, State: State{U: randomBasis(d, r, 1)}}
	}
	exact, _, err := local.Run(ctx, pass(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	noisy, _, err := beamEng.Run(ctx, pass(sd, 0))
	if err != nil {
		t.Fatal(err)
	}
	ss := 0.0
	for j := 0; j < d*r; j++ {
		ss += (noisy[j] - exact[j]) * (noisy[j] - exact[j])
	}
	// The exact entries are sums of 100 clipped updates of norm <= 1: the
	// difference is the noise, of standard deviation sd.
	if rms := math.Sqrt(ss / (d * r)); rms < 0.7*sd || rms > 1.3*sd {
		t.Errorf("the Beam pass's sum differs from the exact one by %.3g RMS, want noise of %g", rms, sd)
	}
	if noisy[d*r] != 100 {
		t.Errorf("user count %v, want 100", noisy[d*r])
	}
	again, _, err := local.Run(ctx, pass(sd, 0))
	if err != nil {
		t.Fatal(err)
	}
	if again[0] == noisy[0] {
		t.Error("two private passes drew the same noise")
	}
	a, _, err := local.Run(ctx, pass(sd, 5))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := beamEng.Run(ctx, pass(sd, 5))
	if err != nil {
		t.Fatal(err)
	}
	for j := range a {
		if math.Abs(a[j]-b[j]) > 1e-9 {
			t.Fatalf("entry %d: in-process %v, Beam %v with the same noise seed", j, a[j], b[j])
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Errorf("files left in TempDir: %v", left)
	}
}

// TestPrivateShardsHoldNoLosses checks that private training writes no
// per-user training loss into the per-user shards.
func TestPrivateShardsHoldNoLosses(t *testing.T) {
	data := tinyData(t, 2)
	recs, err := RecordsOf(data.Train)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	prefix := filepath.Join(dir, "users")
	eng := &Pipeline{Runner: "prism", Records: recs, TempDir: dir, UsersPrefix: prefix, Shards: 2}
	opt := Options{Rank: 2, Sparsity: 2, Rounds: 1, Seed: 1, Privacy: &Privacy{NoiseMultiplier: 1, Delta: 1e-5}}
	res, err := Train(context.Background(), eng, Info(data.Train), opt)
	if err != nil {
		t.Fatal(err)
	}
	if res.Model.Privacy == nil {
		t.Fatal("no ledger")
	}
	for i := range 2 {
		b, err := os.ReadFile(ShardName(prefix, i, 2))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "mse") {
			t.Errorf("shard %d holds per-user losses:\n%.300s", i, b)
		}
	}
	for _, st := range res.Rounds {
		if !math.IsNaN(st.TrainLoss) {
			t.Errorf("round %d reports a training loss %v", st.Round, st.TrainLoss)
		}
	}
}
