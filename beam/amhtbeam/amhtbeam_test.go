package amhtbeam

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/dp"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/pack"
	"github.com/lrsp/lrsp/synth"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
)

func TestMain(m *testing.M) {
	flag.Parse()
	beam.Init()
	if !testing.Verbose() {
		// Prism logs every job at INFO level.
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	os.Exit(m.Run())
}

// tinyData draws the test problem: 100 users, d = 20, r = 2, k = 2,
// noiseless.
func tinyData(t testing.TB, k int) *synth.Data {
	t.Helper()
	data, err := synth.Generate(synth.Options{Users: 100, Samples: 40, Dim: 20, Rank: 2, Sparsity: k, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// maxDiff returns the largest absolute differences between the U, w and b
// of two models, matching users by ID.
func maxDiff(t *testing.T, a, b *model.Model) (du, dw, db float64) {
	t.Helper()
	for j := range a.U {
		du = math.Max(du, math.Abs(a.U[j]-b.U[j]))
	}
	if len(a.Users) != len(b.Users) {
		t.Fatalf("%d users vs %d", len(a.Users), len(b.Users))
	}
	idx := b.Index()
	dense := func(u *model.User) []float64 {
		v := make([]float64, a.Dim)
		for q, j := range u.Index {
			v[j] = u.Value[q]
		}
		return v
	}
	for i := range a.Users {
		ua := &a.Users[i]
		p, ok := idx[ua.ID]
		if !ok {
			t.Fatalf("user %q missing", ua.ID)
		}
		ub := &b.Users[p]
		for c := range ua.W {
			dw = math.Max(dw, math.Abs(ua.W[c]-ub.W[c]))
		}
		va, vb := dense(ua), dense(ub)
		for j := range va {
			db = math.Max(db, math.Abs(va[j]-vb[j]))
		}
	}
	return du, dw, db
}

func TestPrismMatchesInProcess(t *testing.T) {
	cases := []struct {
		name      string
		k         int
		privacy   *Privacy
		rounds    int
		recovered bool // noiseless and enough rounds: exact recovery expected
	}{
		{"lrs", 2, nil, 40, true},
		{"lowrank", 0, nil, 40, true},
		{"dp", 2, &Privacy{NoiseMultiplier: 0.5, Delta: 1e-5, NoiseSeed: 3}, 4, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := tinyData(t, tc.k)
			opt := Options{Rank: 2, Sparsity: tc.k, Rounds: tc.rounds, Seed: 1, Privacy: tc.privacy}
			ctx := context.Background()
			info := Info(data.Train)
			local, err := Train(ctx, &InProcess{Source: data.Train}, info, opt)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := RecordsOf(data.Train)
			if err != nil {
				t.Fatal(err)
			}
			// Feed the users in reverse order, so that the Beam sums are
			// formed in a different order from the in-process ones.
			slices.Reverse(recs)
			dir := t.TempDir()
			eng := &Pipeline{Runner: "prism", Records: recs, TempDir: dir, UsersPrefix: filepath.Join(dir, "users"), Shards: 3}
			dist, err := Train(ctx, eng, info, opt)
			if err != nil {
				t.Fatal(err)
			}
			if len(local.Rounds) != len(dist.Rounds) || local.Stopped != dist.Stopped {
				t.Fatalf("in-process ran %d passes (%s), Beam %d (%s)", len(local.Rounds), local.Stopped, len(dist.Rounds), dist.Stopped)
			}
			du, dw, db := maxDiff(t, local.Model, dist.Model)
			t.Logf("%s: %d passes, stopped %s; max |dU| %.3g, |dw| %.3g, |db| %.3g", tc.name, len(dist.Rounds), dist.Stopped, du, dw, db)
			if du > 1e-9 || dw > 1e-9 || db > 1e-9 {
				t.Errorf("Beam and in-process models differ by more than summation order: dU %g, dw %g, db %g", du, dw, db)
			}
			// A fixed noise seed voids the guarantee: no ledger, a note.
			seeded := tc.privacy != nil && tc.privacy.NoiseSeed != 0
			if (tc.privacy != nil && !seeded) != (dist.Model.Privacy != nil) || seeded != (dist.Model.Config.NotPrivate() != "") {
				t.Errorf("privacy ledger: %+v, note %q", dist.Model.Privacy, dist.Model.Config.NotPrivate())
			}
			rec, err := eval.CompareTruth(dist.Model, data.Truth)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: relative parameter error %.3g, subspace distance %.3g", tc.name, rec.ParamError, rec.SubspaceDistance)
			if tc.recovered && rec.ParamError > 1e-6 {
				t.Errorf("noiseless data not recovered: relative parameter error %g", rec.ParamError)
			}
			// The model must survive the lrsp file format.
			path := filepath.Join(dir, "model.lrsp")
			if err := model.Save(path, dist.Model); err != nil {
				t.Fatal(err)
			}
			back, err := model.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if du, dw, db := maxDiff(t, dist.Model, back); du+dw+db != 0 {
				t.Errorf("model changed through Save/Load: %g %g %g", du, dw, db)
			}
		})
	}
}

// TestRootTrainerRecoversToo compares the final accuracy with the root
// module's amht.Train (with its own defaults: CG update, deep search only
// for outliers): on noiseless data both must recover the truth.
func TestRootTrainerRecoversToo(t *testing.T) {
	data := tinyData(t, 2)
	ctx := context.Background()
	ours, err := Train(ctx, &InProcess{Source: data.Train}, Info(data.Train), Options{Rank: 2, Sparsity: 2, Rounds: 40, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	root, err := amht.Train(ctx, data.Train, nil, amht.Options{Rank: 2, Sparsity: 2, Rounds: 40, Seed: 1, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*model.Model{ours.Model, root.Model} {
		rec, err := eval.CompareTruth(m, data.Truth)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: relative parameter error %.3g, support recovered %.3f", m.Config.Engine, rec.ParamError, rec.SupportRecovered)
		if rec.ParamError > 1e-6 || rec.SupportRecovered != 1 {
			t.Errorf("%v: not recovered: %+v", m.Config, rec)
		}
	}
}

// TestPackInput runs the Beam engine on a packed data file read by the
// workers in ranges, and checks it against the in-memory input.
func TestPackInput(t *testing.T) {
	data := tinyData(t, 2)
	dir := t.TempDir()
	path := filepath.Join(dir, "train"+pack.Ext)
	if err := pack.WriteDataset(path, data.Train, pack.Float64); err != nil {
		t.Fatal(err)
	}
	pf, err := pack.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	opt := Options{Rank: 2, Sparsity: 2, Rounds: 3, Seed: 1}
	ctx := context.Background()
	local, err := Train(ctx, &InProcess{Source: pf}, Info(pf), opt)
	if err != nil {
		t.Fatal(err)
	}
	eng := &Pipeline{PackPath: path, PackUsers: pf.NumUsers(), RangeUsers: 30, TempDir: dir, UsersPrefix: filepath.Join(dir, "users")}
	dist, err := Train(ctx, eng, Info(pf), opt)
	if err != nil {
		t.Fatal(err)
	}
	if du, dw, db := maxDiff(t, local.Model, dist.Model); du > 1e-9 || dw > 1e-9 || db > 1e-9 {
		t.Errorf("packed input: models differ: %g %g %g", du, dw, db)
	}
	fits, err := ReadUserShards(ctx, filepath.Join(dir, "users"))
	if err != nil {
		t.Fatal(err)
	}
	if len(fits) != 100 {
		t.Errorf("%d fits in the shards, want 100", len(fits))
	}
}

// TestPrivateClaims checks, with the in-process engine, that private
// training refuses delta >= 1/users unless allowed, and that a fixed noise
// seed gives no ledger but a note saying why.
func TestPrivateClaims(t *testing.T) {
	data := tinyData(t, 2) // 100 users
	info := Info(data.Train)
	for _, tc := range []struct {
		name    string
		privacy Privacy
		ledger  bool
		large   bool
	}{
		{"secret seed", Privacy{NoiseMultiplier: 1, Delta: 1e-5}, true, false},
		{"fixed seed", Privacy{NoiseMultiplier: 1, Delta: 1e-5, NoiseSeed: 3}, false, false},
		{"delta 1/users", Privacy{NoiseMultiplier: 1, Delta: 0.01}, false, true},
		{"large delta allowed", Privacy{NoiseMultiplier: 1, Delta: 0.5, AllowLargeDelta: true}, true, false},
		{"noiseless", Privacy{Noiseless: true}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.privacy
			opt := Options{Rank: 2, Sparsity: 2, Rounds: 2, Seed: 1, Privacy: &p}
			res, err := Train(context.Background(), &InProcess{Source: data.Train}, info, opt)
			if tc.large {
				if !errors.Is(err, dp.ErrLargeDelta) {
					t.Fatalf("error %v, want dp.ErrLargeDelta", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m := res.Model
			wantNote := ""
			if p.NoiseSeed != 0 {
				wantNote = dp.NotPrivateFixedSeed
			}
			if (m.Privacy != nil) != tc.ledger || m.Config.NotPrivate() != wantNote {
				t.Errorf("ledger %+v, note %q; want a ledger: %v, note %q", m.Privacy, m.Config.NotPrivate(), tc.ledger, wantNote)
			}
		})
	}
}
