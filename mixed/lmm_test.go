package mixed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/lrsp/lrsp/dataset"
)

// schoolCSV is the shared ILEA school data. Its licence is research-only,
// so it is not in the repository: the school cases read it from here and
// are skipped when it is missing. Their expected values, fitted by
// statsmodels, are in testdata/school_*.json.
const schoolCSV = "/work/shared/data/school-ilea/school.csv"

// refFit is one statsmodels fit in a fixture written by
// testdata/reference.py.
type refFit struct {
	FeParams map[string]float64 `json:"fe_params"`
	CovRe    [][]float64        `json:"cov_re"`
	Scale    float64            `json:"scale"`
	LLF      float64            `json:"llf"`
	Score    float64            `json:"score_inf_norm"`
}

// refCase is a fixture written by testdata/reference.py.
type refCase struct {
	Case     string   `json:"case"`
	User     string   `json:"user"`
	Target   string   `json:"target"`
	Features []string `json:"features"`
	Random   []string `json:"random"`
	Rows     int      `json:"rows"`
	Groups   int      `json:"groups"`
	REML     refFit   `json:"reml"`
	ML       refFit   `json:"ml"`
}

func readRefCase(t *testing.T, name string) refCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var rc refCase
	if err := json.Unmarshal(b, &rc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return rc
}

// loadRefCase reads the data of a fixture and the indices of its random
// effects; it skips the test when the data file is missing.
func loadRefCase(t *testing.T, rc refCase, path string) (*dataset.Dataset, []int) {
	t.Helper()
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		t.Skipf("%s not present (research-only data, not in the repository)", path)
	}
	ds, err := dataset.ReadCSVFile(context.Background(), path, dataset.CSVOptions{
		UserColumn: rc.User, TargetColumn: rc.Target, Features: rc.Features, RequireTarget: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Samples() != rc.Rows || len(ds.Users) != rc.Groups {
		t.Fatalf("%s: %d rows, %d users; fixture has %d, %d", path, ds.Samples(), len(ds.Users), rc.Rows, rc.Groups)
	}
	var random []int
	for _, name := range rc.Random {
		j := slices.Index(ds.Features, name)
		if j < 0 {
			t.Fatalf("random effect %q is not a feature", name)
		}
		random = append(random, j)
	}
	return ds, random
}

// relDiff returns |a-b|/|b|.
func relDiff(a, b float64) float64 { return math.Abs(a-b) / math.Abs(b) }

// TestFitLMMMatchesStatsmodels compares FitLMM with statsmodels' MixedLM
// (fixtures from testdata/reference.py): fixed effects and variance
// components within 1e-4 relative (fixed effects near 0 within 1e-6 of the
// largest |beta|, covariances within 1e-4 of the geometric mean of their
// variances), the maximised log-likelihood within 1e-6 relative. It also
// evaluates our profiled log-likelihood at statsmodels' optimum, which must
// equal statsmodels' llf to 1e-9 (the same likelihood, not only the same
// optimum), and checks that our optimum is at least as high.
func TestFitLMMMatchesStatsmodels(t *testing.T) {
	cases := []struct {
		name, data string
	}{
		{"synthetic", filepath.Join("testdata", "synthetic.csv")},
		{"school_ri", schoolCSV},
		{"school_slope", schoolCSV},
	}
	for _, tc := range cases {
		for _, crit := range []Criterion{REML, ML} {
			t.Run(tc.name+"/"+crit.String(), func(t *testing.T) {
				rc := readRefCase(t, tc.name)
				ds, random := loadRefCase(t, rc, tc.data)
				ref := rc.REML
				if crit == ML {
					ref = rc.ML
				}
				m, err := FitLMM(context.Background(), ds, LMMOptions{Criterion: crit, Random: random})
				if err != nil {
					t.Fatal(err)
				}
				if !m.Converged {
					t.Errorf("not converged after %d iterations", m.Iterations)
				}
				if len(m.Aliased) != 0 {
					t.Errorf("Aliased = %v on a full-rank design", m.Aliased)
				}
				maxBeta := 0.0
				for _, v := range ref.FeParams {
					maxBeta = max(maxBeta, math.Abs(v))
				}
				worst := map[string]float64{}
				for j, name := range ds.Features {
					want := ref.FeParams[name]
					diff := math.Abs(m.Beta[j] - want)
					if diff > 1e-4*math.Abs(want)+1e-6*maxBeta {
						t.Errorf("beta[%s] = %.10g, statsmodels %.10g", name, m.Beta[j], want)
					}
					worst["beta"] = max(worst["beta"], diff/max(math.Abs(want), 1e-2*maxBeta))
				}
				q := len(random)
				for i := range q {
					for j := range q {
						got, want := m.Sigma[i*q+j], ref.CovRe[i][j]
						scale := math.Sqrt(ref.CovRe[i][i] * ref.CovRe[j][j])
						if math.Abs(got-want) > 1e-4*scale {
							t.Errorf("Sigma[%d,%d] = %.10g, statsmodels %.10g", i, j, got, want)
						}
						worst["Sigma"] = max(worst["Sigma"], math.Abs(got-want)/scale)
					}
				}
				if d := relDiff(m.S2, ref.Scale); d > 1e-4 {
					t.Errorf("S2 = %.10g, statsmodels %.10g", m.S2, ref.Scale)
				}
				worst["S2"] = relDiff(m.S2, ref.Scale)
				if d := relDiff(m.LogLik, ref.LLF); d > 1e-6 {
					t.Errorf("LogLik = %.12g, statsmodels %.12g", m.LogLik, ref.LLF)
				}
				worst["LogLik"] = relDiff(m.LogLik, ref.LLF)
				if m.LogLik < ref.LLF-1e-9*math.Abs(ref.LLF) {
					t.Errorf("LogLik %.12g below statsmodels' %.12g", m.LogLik, ref.LLF)
				}

				// Our likelihood at statsmodels' parameters.
				pr := testProblem(t, ds, random, crit)
				theta := thetaFromCov(t, ref.CovRe, ref.Scale)
				ev, ok := pr.eval(theta, nil)
				if !ok {
					t.Fatal("likelihood undefined at statsmodels' optimum")
				}
				if d := relDiff(ev.logLik, ref.LLF); d > 1e-9 {
					t.Errorf("our log-likelihood at statsmodels' optimum %.12g, its llf %.12g", ev.logLik, ref.LLF)
				}
				if d := relDiff(ev.s2, ref.Scale); d > 1e-9 {
					t.Errorf("our s2 at statsmodels' optimum %.12g, its scale %.12g", ev.s2, ref.Scale)
				}
				t.Logf("iterations %d; largest relative differences: beta %.2g, Sigma %.2g, S2 %.2g, LogLik %.2g; at statsmodels' optimum LogLik %.2g",
					m.Iterations, worst["beta"], worst["Sigma"], worst["S2"], worst["LogLik"], relDiff(ev.logLik, ref.LLF))
			})
		}
	}
}

// thetaFromCov returns the packed lower Cholesky factor of cov/scale.
func thetaFromCov(t *testing.T, cov [][]float64, scale float64) []float64 {
	t.Helper()
	q := len(cov)
	a := make([]float64, q*q)
	for i := range q {
		for j := range q {
			a[i*q+j] = cov[i][j] / scale
		}
	}
	if !cholLower(a, q) {
		t.Fatalf("covariance %v is not positive definite", cov)
	}
	var theta []float64
	for i := range q {
		for j := 0; j <= i; j++ {
			theta = append(theta, a[i*q+j])
		}
	}
	return theta
}

// testProblem builds the likelihood problem of FitLMM for ds (full-rank
// designs only).
func testProblem(t *testing.T, ds *dataset.Dataset, random []int, crit Criterion) *lmmProblem {
	t.Helper()
	d, q := ds.Dim(), len(random)
	pr := newLMMProblem(ds.Samples(), d, q, len(ds.Users), crit == REML)
	for g := range ds.Users {
		u := &ds.Users[g]
		for r, y := range u.Y {
			x := u.X[r*d : (r+1)*d]
			pr.yty += y * y
			for j := range d {
				pr.xty[j] += x[j] * y
				for k := range d {
					pr.xtx[j*d+k] += x[j] * x[k]
				}
				for k, c := range random {
					pr.xtz[g*d*q+j*q+k] += x[j] * x[c]
				}
			}
			for a, ca := range random {
				pr.zty[g*q+a] += x[ca] * y
				for b, cb := range random {
					pr.ztz[g*q*q+a*q+b] += x[ca] * x[cb]
				}
			}
		}
	}
	return pr
}

// genData returns t users with m in [mlo, mhi] rows each of features x1..x(d-1)
// and a bias column last, from a random-slopes model with random effects on
// the columns random, covariance sigma (row-major) and noise variance s2.
func genData(rng *rand.Rand, t, mlo, mhi, d int, beta []float64, random []int, sigma []float64, s2 float64) *dataset.Dataset {
	q := len(random)
	feat := make([]string, d)
	for j := range d - 1 {
		feat[j] = fmt.Sprintf("x%d", j+1)
	}
	feat[d-1] = "bias"
	c := make([]float64, q*q)
	copy(c, sigma)
	if q > 0 && !cholLower(c, q) {
		panic("sigma not positive definite")
	}
	b := dataset.NewBuilder(feat, true)
	x := make([]float64, d)
	u := make([]float64, q)
	z := make([]float64, q)
	row := 0
	for i := range t {
		for k := range q {
			z[k] = rng.NormFloat64()
		}
		for a := range q {
			s := 0.0
			for k := 0; k <= a; k++ {
				s += c[a*q+k] * z[k]
			}
			u[a] = s
		}
		m := mlo + rng.IntN(mhi-mlo+1)
		for range m {
			for j := range d - 1 {
				x[j] = rng.NormFloat64()
			}
			x[d-1] = 1
			y := rng.NormFloat64() * math.Sqrt(s2)
			for j := range d {
				y += x[j] * beta[j]
			}
			for k, j := range random {
				y += x[j] * u[k]
			}
			b.Add(fmt.Sprintf("u%d", i), x, y, row)
			row++
		}
	}
	return b.Dataset()
}

// TestLMMGradient checks the analytic gradient of the profiled
// log-likelihood against central differences at random parameters.
func TestLMMGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ds := genData(rng, 40, 3, 8, 4, []float64{1, -1, 0.5, 2}, []int{3, 0, 1},
		[]float64{2, 0.3, 0, 0.3, 1, 0.2, 0, 0.2, 0.5}, 1)
	for _, crit := range []Criterion{REML, ML} {
		pr := testProblem(t, ds, []int{3, 0, 1}, crit)
		for trial := range 5 {
			theta := make([]float64, pr.nTheta())
			for i := range theta {
				theta[i] = rng.NormFloat64()
			}
			if trial == 0 {
				theta[0] = 0 // a singular factor
			}
			grad := make([]float64, len(theta))
			if _, ok := pr.eval(theta, grad); !ok {
				t.Fatal("eval failed")
			}
			for i := range theta {
				h := 1e-5 * max(1, math.Abs(theta[i]))
				tp := slices.Clone(theta)
				tp[i] += h
				fp, _ := pr.eval(tp, nil)
				tp[i] -= 2 * h
				fm, _ := pr.eval(tp, nil)
				num := (fp.logLik - fm.logLik) / (2 * h)
				if math.Abs(num-grad[i]) > 1e-5*max(1, math.Abs(num)) {
					t.Errorf("%v trial %d: dlogLik/dtheta[%d] = %.8g, central difference %.8g", crit, trial, i, grad[i], num)
				}
			}
		}
	}
}

// TestPosteriorMatchesDense checks Posterior against the dense formulas
// with V = Z Sigma Z' + s2 I: mean = Sigma Z' V^-1 r and
// cov = Sigma - Sigma Z' V^-1 Z Sigma, for a full-rank and a singular
// Sigma and for a user with no rows.
func TestPosteriorMatchesDense(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	d := 5
	cases := []struct {
		name  string
		sigma []float64
		m     int
	}{
		{"full rank", []float64{2, 0.5, -0.3, 0.5, 1, 0.1, -0.3, 0.1, 0.7}, 6},
		{"one row", []float64{2, 0.5, -0.3, 0.5, 1, 0.1, -0.3, 0.1, 0.7}, 1},
		// Rank 1: u = (1, 2, 0) v with v ~ N(0, 1.5).
		{"singular", []float64{1.5, 3, 0, 3, 6, 0, 0, 0, 0}, 7},
		{"zero", make([]float64, 9), 4},
		{"no rows", []float64{2, 0.5, -0.3, 0.5, 1, 0.1, -0.3, 0.1, 0.7}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := &LMM{Beta: []float64{0.3, -1, 2, 0.1, 4}, Random: []int{4, 1, 2}, Sigma: tc.sigma, S2: 0.8}
			q := len(m.Random)
			x := make([]float64, tc.m*d)
			y := make([]float64, tc.m)
			for i := range x {
				x[i] = rng.NormFloat64()
			}
			for i := range y {
				y[i] = 3 * rng.NormFloat64()
			}
			mean, cov, err := m.Posterior(x, y)
			if err != nil {
				t.Fatal(err)
			}
			// Dense: Z (m x q), r = y - X beta, V = Z Sigma Z' + s2 I.
			z := mat.NewDense(max(tc.m, 1), q, nil)
			r := mat.NewVecDense(max(tc.m, 1), nil)
			for i := range tc.m {
				s := y[i]
				for j := range d {
					s -= x[i*d+j] * m.Beta[j]
				}
				r.SetVec(i, s)
				for k, c := range m.Random {
					z.Set(i, k, x[i*d+c])
				}
			}
			sig := mat.NewDense(q, q, slices.Clone(tc.sigma))
			wantMean := make([]float64, q)
			wantCov := mat.DenseCopyOf(sig)
			if tc.m > 0 {
				var zs, v mat.Dense
				zs.Mul(z, sig)
				v.Mul(&zs, z.T())
				for i := range tc.m {
					v.Set(i, i, v.At(i, i)+m.S2)
				}
				var vr mat.VecDense
				if err := vr.SolveVec(&v, r); err != nil {
					t.Fatal(err)
				}
				var mv mat.VecDense
				mv.MulVec(zs.T(), &vr)
				for i := range q {
					wantMean[i] = mv.AtVec(i)
				}
				var vz, c2 mat.Dense
				if err := vz.Solve(&v, &zs); err != nil {
					t.Fatal(err)
				}
				c2.Mul(zs.T(), &vz)
				wantCov.Sub(sig, &c2)
			}
			for i := range q {
				if math.Abs(mean[i]-wantMean[i]) > 1e-10*(1+math.Abs(wantMean[i])) {
					t.Errorf("mean[%d] = %.12g, dense %.12g", i, mean[i], wantMean[i])
				}
				for j := range q {
					if math.Abs(cov[i*q+j]-wantCov.At(i, j)) > 1e-10*(1+math.Abs(wantCov.At(i, j))) {
						t.Errorf("cov[%d,%d] = %.12g, dense %.12g", i, j, cov[i*q+j], wantCov.At(i, j))
					}
				}
			}
		})
	}
}

// TestPosteriorBadInput checks that Posterior rejects malformed input with
// an error instead of panicking.
func TestPosteriorBadInput(t *testing.T) {
	good := LMM{Beta: []float64{1, 2}, Random: []int{1}, Sigma: []float64{1}, S2: 1}
	tests := []struct {
		name string
		m    LMM
		x, y []float64
		want string
	}{
		{"ragged rows", good, []float64{1, 2, 3}, []float64{1, 2}, "feature values"},
		{"NaN feature", good, []float64{1, math.NaN()}, []float64{1}, "not finite"},
		{"Inf target", good, []float64{1, 2}, []float64{math.Inf(1)}, "not finite"},
		{"zero S2", LMM{Beta: []float64{1, 2}, Random: []int{1}, Sigma: []float64{1}, S2: 0}, []float64{1, 2}, []float64{1}, "residual variance"},
		{"bad Sigma size", LMM{Beta: []float64{1, 2}, Random: []int{1}, Sigma: []float64{1, 0}, S2: 1}, []float64{1, 2}, []float64{1}, "Sigma has"},
		{"negative Sigma", LMM{Beta: []float64{1, 2}, Random: []int{1}, Sigma: []float64{-1}, S2: 1}, []float64{1, 2}, []float64{1}, "semidefinite"},
		{"Random out of range", LMM{Beta: []float64{1, 2}, Random: []int{2}, Sigma: []float64{1}, S2: 1}, []float64{1, 2}, []float64{1}, "out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := tc.m.Posterior(tc.x, tc.y)
			if err == nil || !strings.HasPrefix(err.Error(), "mixed: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want a mixed: error containing %q", err, tc.want)
			}
		})
	}
}

// TestPredictBadInput checks that Coef, Predict and PredictVar reject
// malformed input with "mixed: " errors.
func TestPredictBadInput(t *testing.T) {
	m := &LMM{Beta: []float64{1, 2}, Random: []int{1}, Sigma: []float64{1}, S2: 1}
	bad := &LMM{Beta: []float64{1, 2}, Random: []int{5}, Sigma: []float64{1}, S2: 1}
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"Coef: wrong u length", func() error { _, err := m.Coef([]float64{1, 2}); return err }, "2 random effects, want 1"},
		{"Coef: Random out of range", func() error { _, err := bad.Coef([]float64{1}); return err }, "out of range"},
		{"Predict: ragged rows", func() error { _, err := m.Predict([]float64{1, 2, 3}, nil); return err }, "not rows of dimension 2"},
		{"PredictVar: ragged rows", func() error { _, err := m.PredictVar([]float64{1}, []float64{1}); return err }, "not rows of dimension 2"},
		{"PredictVar: wrong cov size", func() error { _, err := m.PredictVar([]float64{1, 2}, []float64{1, 0}); return err }, "covariance has 2 values"},
		{"PredictVar: Random out of range", func() error { _, err := bad.PredictVar([]float64{1, 2}, []float64{1}); return err }, "out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil || !strings.HasPrefix(err.Error(), "mixed: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want a mixed: error containing %q", err, tc.want)
			}
		})
	}
	got, err := m.PredictVar([]float64{1, 3}, []float64{0.5})
	if err != nil || got[0] != 1+9*0.5 {
		t.Errorf("PredictVar = %v, %v; want [5.5]", got, err)
	}
}

// TestFitLMMRecoversParameters fits a large synthetic random-slopes data
// set and checks that the estimates are near the generating parameters
// (sampling error only) and that Posterior's BLUPs predict held-out rows of
// the same users better than the fixed effects alone.
func TestFitLMMRecoversParameters(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	beta := []float64{1, -2, 0.5, 3}
	random := []int{3, 0}
	sigma := []float64{4, 1, 1, 2}
	ds := genData(rng, 600, 10, 10, 4, beta, random, sigma, 1)
	train, held, err := dataset.Split(ds, 0.3, 7)
	if err != nil {
		t.Fatal(err)
	}
	m, err := FitLMM(context.Background(), train, LMMOptions{Random: random})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Converged {
		t.Errorf("not converged")
	}
	for j := range beta {
		if math.Abs(m.Beta[j]-beta[j]) > 0.15 {
			t.Errorf("beta[%d] = %.4f, true %.4f", j, m.Beta[j], beta[j])
		}
	}
	for i := range sigma {
		if math.Abs(m.Sigma[i]-sigma[i]) > 0.6 {
			t.Errorf("Sigma[%d] = %.4f, true %.4f", i, m.Sigma[i], sigma[i])
		}
	}
	if math.Abs(m.S2-1) > 0.1 {
		t.Errorf("S2 = %.4f, true 1", m.S2)
	}
	var seBLUP, seFixed float64
	for i := range train.Users {
		tu, hu := &train.Users[i], &held.Users[i]
		mean, _, err := m.Posterior(tu.X, tu.Y)
		if err != nil {
			t.Fatal(err)
		}
		pb, err := m.Predict(hu.X, mean)
		if err != nil {
			t.Fatal(err)
		}
		pf, err := m.Predict(hu.X, nil)
		if err != nil {
			t.Fatal(err)
		}
		for r, y := range hu.Y {
			seBLUP += (pb[r] - y) * (pb[r] - y)
			seFixed += (pf[r] - y) * (pf[r] - y)
		}
	}
	if !(seBLUP < 0.5*seFixed) {
		t.Errorf("held-out squared error with BLUPs %.1f, fixed effects only %.1f", seBLUP, seFixed)
	}
}

// TestPredictVarCoverage checks the 90% predictive intervals of new users
// on synthetic data from the model: a model fitted on 800 users
// personalises 2000 new users from 6 rows each, and the interval
// mean +- 1.645 sd covers one held-out row of each; the coverage must be
// in [0.88, 0.92] (3 binomial standard deviations).
func TestPredictVarCoverage(t *testing.T) {
	rng := rand.New(rand.NewPCG(26, 27))
	beta := []float64{0.5, -1, 2, 1}
	random := []int{3, 0, 1}
	sigma := []float64{2, 0.5, 0, 0.5, 1, 0.3, 0, 0.3, 0.8}
	train := genData(rng, 800, 6, 6, 4, beta, random, sigma, 0.5)
	m, err := FitLMM(context.Background(), train, LMMOptions{Random: random})
	if err != nil {
		t.Fatal(err)
	}
	fresh := genData(rng, 2000, 7, 7, 4, beta, random, sigma, 0.5)
	covered, total := 0, 0
	for i := range fresh.Users {
		u := &fresh.Users[i]
		mean, cov, err := m.Posterior(u.X[:6*4], u.Y[:6])
		if err != nil {
			t.Fatal(err)
		}
		x := u.X[6*4:]
		pred, err := m.Predict(x, mean)
		if err != nil {
			t.Fatal(err)
		}
		v, err := m.PredictVar(x, cov)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(u.Y[6]-pred[0]) <= 1.6448536269514722*math.Sqrt(v[0]) {
			covered++
		}
		total++
	}
	cover := float64(covered) / float64(total)
	t.Logf("90%% interval coverage %.4f on %d new users", cover, total)
	if cover < 0.88 || cover > 0.92 {
		t.Errorf("coverage %.4f, want in [0.88, 0.92]", cover)
	}
}

// TestFitLMMREMLVariancesExceedML checks the usual order: REML corrects
// the downward bias of ML, so its residual and random-intercept variances
// are larger.
func TestFitLMMREMLVariancesExceedML(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	ds := genData(rng, 30, 4, 6, 6, []float64{1, 2, 3, 4, 5, 6}, []int{5}, []float64{2}, 1)
	reml, err := FitLMM(context.Background(), ds, LMMOptions{Criterion: REML, Random: []int{5}})
	if err != nil {
		t.Fatal(err)
	}
	ml, err := FitLMM(context.Background(), ds, LMMOptions{Criterion: ML, Random: []int{5}})
	if err != nil {
		t.Fatal(err)
	}
	if !(reml.S2 > ml.S2 && reml.Sigma[0] > ml.Sigma[0]) {
		t.Errorf("REML S2 %.5g Sigma %.5g; ML S2 %.5g Sigma %.5g: want REML larger", reml.S2, reml.Sigma[0], ml.S2, ml.Sigma[0])
	}
	if reml.Criterion != REML || ml.Criterion != ML {
		t.Errorf("Criterion = %v, %v", reml.Criterion, ml.Criterion)
	}
}

// TestFitLMMNestedModel fits a random slope to data generated without
// one: its estimated variance must be small, and the fit at least as good
// as the nested random-intercept model (the slope's variance fixed at 0),
// with about the same intercept variance.
func TestFitLMMNestedModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 11))
	ds := genData(rng, 200, 5, 8, 3, []float64{1, 0.5, 2}, []int{2}, []float64{1}, 1)
	// Random intercept (column 2) and a random slope on x1 with no variance
	// in the data.
	m, err := FitLMM(context.Background(), ds, LMMOptions{Criterion: ML, Random: []int{2, 0}})
	if err != nil {
		t.Fatal(err)
	}
	ri, err := FitLMM(context.Background(), ds, LMMOptions{Criterion: ML, Random: []int{2}})
	if err != nil {
		t.Fatal(err)
	}
	if m.LogLik < ri.LogLik-1e-9*math.Abs(ri.LogLik) {
		t.Errorf("LogLik with the slope %.10g below the nested model's %.10g", m.LogLik, ri.LogLik)
	}
	if m.Sigma[3] > 0.05 {
		t.Errorf("slope variance %.4g, want near 0", m.Sigma[3])
	}
	if math.Abs(m.Sigma[0]-ri.Sigma[0]) > 0.05*ri.Sigma[0] {
		t.Errorf("intercept variance %.5g, nested model %.5g", m.Sigma[0], ri.Sigma[0])
	}
	if _, _, err := m.Posterior(ds.Users[0].X, ds.Users[0].Y); err != nil {
		t.Errorf("Posterior at a near-singular Sigma: %v", err)
	}
}

// TestFitLMMBoundaryZeroVariance gives every user the same rows and
// targets, so that the users vary less than the noise predicts and the
// maximum is at Sigma = 0, on the boundary. The fit must get there
// (converged, Sigma ~ 0) and its log-likelihood must equal the model
// without random effects, and Posterior must work at the singular Sigma.
func TestFitLMMBoundaryZeroVariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(24, 25))
	one := genData(rng, 1, 12, 12, 3, []float64{1, 0.5, 2}, nil, nil, 1)
	b := dataset.NewBuilder(one.Features, true)
	u := &one.Users[0]
	row := 0
	for i := range 30 {
		for r, y := range u.Y {
			b.Add(fmt.Sprint("u", i), u.X[r*3:(r+1)*3], y, row)
			row++
		}
	}
	ds := b.Dataset()
	for _, crit := range []Criterion{REML, ML} {
		ols, err := FitLMM(context.Background(), ds, LMMOptions{Criterion: crit})
		if err != nil {
			t.Fatal(err)
		}
		for _, random := range [][]int{{2}, {2, 0}} {
			m, err := FitLMM(context.Background(), ds, LMMOptions{Criterion: crit, Random: random})
			if err != nil {
				t.Fatal(err)
			}
			if !m.Converged {
				t.Errorf("%v %v: not converged", crit, random)
			}
			for _, v := range m.Sigma {
				if math.Abs(v) > 1e-8*m.S2 {
					t.Errorf("%v %v: Sigma = %.3g, want 0", crit, random, m.Sigma)
					break
				}
			}
			if relDiff(m.LogLik, ols.LogLik) > 1e-12 || relDiff(m.S2, ols.S2) > 1e-8 {
				t.Errorf("%v %v: LogLik %.14g S2 %.10g, without random effects %.14g %.10g", crit, random, m.LogLik, m.S2, ols.LogLik, ols.S2)
			}
			mean, cov, err := m.Posterior(u.X, u.Y)
			if err != nil {
				t.Fatal(err)
			}
			for i := range mean {
				if math.Abs(mean[i]) > 1e-6 || math.Abs(cov[i*len(mean)+i]) > 1e-6 {
					t.Errorf("%v %v: posterior mean %.3g cov %.3g, want ~0", crit, random, mean, cov)
				}
			}
		}
	}
}

// TestFitLMMAliasedColumns duplicates a column and adds a one-hot group
// that sums to the bias column: the dependent columns are reported in
// Aliased with beta 0, and the ML fit, the predictions and the BLUPs equal
// those of the full-rank design.
func TestFitLMMAliasedColumns(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 13))
	base := genData(rng, 50, 4, 8, 3, []float64{1, -1, 2}, []int{2}, []float64{1.5}, 1)
	// Features of the extended design: x1, x2, bias, x1 copy, g0, g1
	// (g0 + g1 = bias).
	ext := dataset.NewBuilder([]string{"x1", "x2", "bias", "x1copy", "g0", "g1"}, true)
	redu := dataset.NewBuilder([]string{"x1", "x2", "bias", "g0"}, true)
	row := 0
	for i := range base.Users {
		u := &base.Users[i]
		for r, y := range u.Y {
			x := u.X[r*3 : (r+1)*3]
			g := float64(rng.IntN(2))
			ext.Add(u.ID, []float64{x[0], x[1], x[2], x[0], g, 1 - g}, y, row)
			redu.Add(u.ID, []float64{x[0], x[1], x[2], g}, y, row)
			row++
		}
	}
	de, dr := ext.Dataset(), redu.Dataset()
	me, err := FitLMM(context.Background(), de, LMMOptions{Criterion: ML, Random: []int{2}})
	if err != nil {
		t.Fatal(err)
	}
	mr, err := FitLMM(context.Background(), dr, LMMOptions{Criterion: ML, Random: []int{2}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{3, 5}; !slices.Equal(me.Aliased, want) {
		t.Errorf("Aliased = %v, want %v", me.Aliased, want)
	}
	if len(mr.Aliased) != 0 {
		t.Errorf("full-rank design: Aliased = %v", mr.Aliased)
	}
	if me.Beta[3] != 0 || me.Beta[5] != 0 {
		t.Errorf("aliased betas %v, want 0", me.Beta)
	}
	if relDiff(me.LogLik, mr.LogLik) > 1e-10 || relDiff(me.S2, mr.S2) > 1e-7 || relDiff(me.Sigma[0], mr.Sigma[0]) > 1e-6 {
		t.Errorf("aliased fit LogLik %.12g S2 %.10g Sigma %.10g; full rank %.12g %.10g %.10g",
			me.LogLik, me.S2, me.Sigma[0], mr.LogLik, mr.S2, mr.Sigma[0])
	}
	for i := range de.Users {
		ue, ur := &de.Users[i], &dr.Users[i]
		be, _, err := me.Posterior(ue.X, ue.Y)
		if err != nil {
			t.Fatal(err)
		}
		br, _, err := mr.Posterior(ur.X, ur.Y)
		if err != nil {
			t.Fatal(err)
		}
		pe, _ := me.Predict(ue.X, be)
		pr, _ := mr.Predict(ur.X, br)
		for r := range pe {
			if math.Abs(pe[r]-pr[r]) > 1e-6*(1+math.Abs(pr[r])) {
				t.Fatalf("user %d row %d: prediction %.10g, full-rank design %.10g", i, r, pe[r], pr[r])
			}
		}
	}
}

// TestFitLMMLargeTargetOffset adds 1e7 to every target: only the
// intercept may change (by 1e7), not the variances or the likelihood. It
// guards the least-squares pre-fit of FitLMM: from raw sums of squares,
// y'y - b'A^-1 b loses about 14 of 16 digits here.
func TestFitLMMLargeTargetOffset(t *testing.T) {
	rng := rand.New(rand.NewPCG(22, 23))
	ds := genData(rng, 60, 4, 8, 3, []float64{1, -1, 2}, []int{2, 0}, []float64{1, 0.2, 0.2, 0.5}, 1)
	shifted := genData(rand.New(rand.NewPCG(22, 23)), 60, 4, 8, 3, []float64{1, -1, 2}, []int{2, 0}, []float64{1, 0.2, 0.2, 0.5}, 1)
	const offset = 1e7
	for i := range shifted.Users {
		for r := range shifted.Users[i].Y {
			shifted.Users[i].Y[r] += offset
		}
	}
	for _, crit := range []Criterion{REML, ML} {
		m0, err := FitLMM(context.Background(), ds, LMMOptions{Criterion: crit, Random: []int{2, 0}})
		if err != nil {
			t.Fatal(err)
		}
		m1, err := FitLMM(context.Background(), shifted, LMMOptions{Criterion: crit, Random: []int{2, 0}})
		if err != nil {
			t.Fatal(err)
		}
		if !m0.Converged || !m1.Converged {
			t.Errorf("%v: converged %v, %v", crit, m0.Converged, m1.Converged)
		}
		if relDiff(m1.LogLik, m0.LogLik) > 1e-9 || relDiff(m1.S2, m0.S2) > 1e-6 {
			t.Errorf("%v: LogLik %.12g S2 %.10g with the offset, %.12g %.10g without", crit, m1.LogLik, m1.S2, m0.LogLik, m0.S2)
		}
		for i := range m0.Sigma {
			if math.Abs(m1.Sigma[i]-m0.Sigma[i]) > 1e-6*math.Sqrt(m0.Sigma[0]*m0.Sigma[3]) {
				t.Errorf("%v: Sigma[%d] %.10g with the offset, %.10g without", crit, i, m1.Sigma[i], m0.Sigma[i])
			}
		}
		if math.Abs(m1.Beta[2]-offset-m0.Beta[2]) > 1e-6 || math.Abs(m1.Beta[0]-m0.Beta[0]) > 1e-6 {
			t.Errorf("%v: beta %v with the offset, %v without", crit, m1.Beta, m0.Beta)
		}
	}
}

// TestFitLMMSchoolAliased fits the school data with every column except
// vr_band_2, so that one dummy of several one-hot groups and the bias
// column are linear combinations of others. The column space is that of
// the fixture school_ri, so Sigma, S2, the ML log-likelihood and every
// prediction must match statsmodels' fits on the full-rank subset (the REML
// log-likelihood differs by a constant, the log-determinant of the change
// of basis). Skipped without the school data.
func TestFitLMMSchoolAliased(t *testing.T) {
	rc := readRefCase(t, "school_ri")
	if _, err := os.Stat(schoolCSV); err != nil {
		t.Skipf("%s not present (research-only data, not in the repository)", schoolCSV)
	}
	ds, err := dataset.ReadCSVFile(context.Background(), schoolCSV, dataset.CSVOptions{
		UserColumn: "school", TargetColumn: "exam_score", Ignore: []string{"vr_band_2"}, RequireTarget: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	bias := slices.Index(ds.Features, "bias")
	var wantAliased []int
	for _, name := range []string{"gender_1", "ethnic_10", "school_gender_2", "denomination_2", "bias"} {
		wantAliased = append(wantAliased, slices.Index(ds.Features, name))
	}
	for _, crit := range []Criterion{REML, ML} {
		ref := rc.REML
		if crit == ML {
			ref = rc.ML
		}
		m, err := FitLMM(context.Background(), ds, LMMOptions{Criterion: crit, Random: []int{bias}})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(m.Aliased, wantAliased) {
			t.Errorf("%v: Aliased = %v, want %v", crit, m.Aliased, wantAliased)
		}
		if !m.Converged || relDiff(m.Sigma[0], ref.CovRe[0][0]) > 1e-6 || relDiff(m.S2, ref.Scale) > 1e-8 {
			t.Errorf("%v: converged %v, Sigma %.10g S2 %.10g; statsmodels %.10g %.10g", crit, m.Converged, m.Sigma[0], m.S2, ref.CovRe[0][0], ref.Scale)
		}
		if crit == ML && relDiff(m.LogLik, ref.LLF) > 1e-10 {
			t.Errorf("ML LogLik %.12g, statsmodels %.12g", m.LogLik, ref.LLF)
		}
		// Predictions of the reference fit: beta from the fixture over its
		// features, the same Sigma and S2 (the BLUPs depend on nothing
		// else).
		refModel := &LMM{Beta: make([]float64, ds.Dim()), Random: []int{bias}, Sigma: []float64{ref.CovRe[0][0]}, S2: ref.Scale}
		for name, v := range ref.FeParams {
			refModel.Beta[slices.Index(ds.Features, name)] = v
		}
		worst := 0.0
		for i := range ds.Users {
			u := &ds.Users[i]
			mu, _, err := m.Posterior(u.X, u.Y)
			if err != nil {
				t.Fatal(err)
			}
			ru, _, err := refModel.Posterior(u.X, u.Y)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := m.Predict(u.X, mu)
			want, _ := refModel.Predict(u.X, ru)
			for r := range got {
				worst = max(worst, math.Abs(got[r]-want[r]))
			}
		}
		if worst > 1e-5 {
			t.Errorf("%v: predictions differ from statsmodels' fit by up to %.3g", crit, worst)
		}
		t.Logf("%v: largest prediction difference %.3g", crit, worst)
	}
}

// TestFitLMMCancelled checks that a cancelled context stops FitLMM with
// the context's error.
func TestFitLMMCancelled(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 15))
	ds := genData(rng, 20, 3, 5, 3, []float64{1, 1, 1}, []int{2}, []float64{1}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := FitLMM(ctx, ds, LMMOptions{Random: []int{2}})
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "mixed: ") {
		t.Errorf("err = %v, want mixed: ... context.Canceled", err)
	}
}

// TestFitLMMCancelledDuringOptimisation cancels the context from inside
// the optimisation, after a few likelihood evaluations.
func TestFitLMMCancelledDuringOptimisation(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 17))
	ds := genData(rng, 50, 3, 6, 3, []float64{1, 1, 1}, []int{2, 0}, []float64{1, 0.2, 0.2, 0.5}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cctx := &countingCtx{Context: ctx, cancel: cancel, after: 20}
	_, err := FitLMM(cctx, ds, LMMOptions{Random: []int{2, 0}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// countingCtx cancels itself on its after-th call of Err.
type countingCtx struct {
	context.Context
	cancel func()
	after  int
	n      int
}

func (c *countingCtx) Err() error {
	c.n++
	if c.n == c.after {
		c.cancel()
	}
	return c.Context.Err()
}

// TestFitLMMInvalid checks that bad data and options give errors prefixed
// "mixed: " that say what is wrong.
func TestFitLMMInvalid(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 19))
	good := genData(rng, 5, 3, 3, 3, []float64{1, 1, 1}, []int{2}, []float64{1}, 1)
	withValue := func(v float64, target bool) *dataset.Dataset {
		ds := genData(rand.New(rand.NewPCG(1, 1)), 5, 3, 3, 3, []float64{1, 1, 1}, []int{2}, []float64{1}, 1)
		if target {
			ds.Users[2].Y[1] = v
		} else {
			ds.Users[2].X[4] = v
		}
		return ds
	}
	few := genData(rng, 1, 2, 2, 3, []float64{1, 1, 1}, nil, nil, 1)
	noTarget := genData(rng, 3, 3, 3, 3, []float64{1, 1, 1}, nil, nil, 1)
	noTarget.HasTarget = false
	// Three rows, three linearly independent features.
	square := dataset.NewBuilder([]string{"x1", "x2", "bias"}, true)
	square.Add("a", []float64{1, 0, 1}, 3, 0)
	square.Add("a", []float64{0, 1, 1}, 5, 1)
	square.Add("b", []float64{1, 1, 1}, 4, 2)
	// Four rows, x2 = 2 x1, and y = 1 + 2 x1 exactly.
	exact := dataset.NewBuilder([]string{"x1", "x2", "bias"}, true)
	exact.Add("a", []float64{1, 2, 1}, 3, 0)
	exact.Add("a", []float64{2, 4, 1}, 5, 1)
	exact.Add("b", []float64{3, 6, 1}, 7, 2)
	exact.Add("b", []float64{4, 8, 1}, 9, 3)
	wideNames := make([]string, 1<<14+1)
	for j := range wideNames {
		wideNames[j] = fmt.Sprint("x", j)
	}
	wide := dataset.NewBuilder(wideNames, true)
	wide.Add("a", make([]float64, len(wideNames)), 1, 0)
	tests := []struct {
		name string
		ds   *dataset.Dataset
		opt  LMMOptions
		want string
	}{
		{"too many features", wide.Dataset(), LMMOptions{}, "too large"},
		{"nil dataset", nil, LMMOptions{}, "no users"},
		{"no users", &dataset.Dataset{Features: []string{"a"}, HasTarget: true}, LMMOptions{}, "no users"},
		{"no targets", noTarget, LMMOptions{}, "no targets"},
		{"fewer rows than features", few, LMMOptions{}, "2 rows for 3 features"},
		{"random index negative", good, LMMOptions{Random: []int{-1}}, "Random[0] = -1"},
		{"random index too large", good, LMMOptions{Random: []int{0, 3}}, "Random[1] = 3"},
		{"random index duplicated", good, LMMOptions{Random: []int{2, 0, 2}}, "listed twice"},
		{"NaN target", withValue(math.NaN(), true), LMMOptions{}, "target NaN is not finite"},
		{"Inf feature", withValue(math.Inf(-1), false), LMMOptions{}, "-Inf is not finite"},
		{"bad criterion", good, LMMOptions{Criterion: 7}, "unknown criterion"},
		{"negative MaxIter", good, LMMOptions{MaxIter: -1}, "MaxIter"},
		{"negative Tol", good, LMMOptions{Tol: -1}, "Tol"},
		{"NaN Tol", good, LMMOptions{Tol: math.NaN()}, "Tol"},
		{"no residual degrees of freedom", square.Dataset(), LMMOptions{}, "no residual degrees of freedom"},
		{"perfect fit", exact.Dataset(), LMMOptions{Random: []int{2}}, "perfect fit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := FitLMM(context.Background(), tc.ds, tc.opt)
			if err == nil {
				t.Fatalf("no error; model %+v", m)
			}
			if !strings.HasPrefix(err.Error(), "mixed: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want prefix %q and %q", err, "mixed: ", tc.want)
			}
		})
	}
}

// TestFitLMMNoRandomEffectsIsOLS checks the degenerate model without
// random effects against ordinary least squares.
func TestFitLMMNoRandomEffectsIsOLS(t *testing.T) {
	rng := rand.New(rand.NewPCG(20, 21))
	ds := genData(rng, 10, 3, 6, 3, []float64{1, -1, 2}, nil, nil, 1)
	m, err := FitLMM(context.Background(), ds, LMMOptions{Criterion: ML})
	if err != nil {
		t.Fatal(err)
	}
	n, d := ds.Samples(), ds.Dim()
	x := mat.NewDense(n, d, nil)
	y := mat.NewVecDense(n, nil)
	r := 0
	for _, u := range ds.Users {
		for k := range u.Y {
			x.SetRow(r, u.X[k*d:(k+1)*d])
			y.SetVec(r, u.Y[k])
			r++
		}
	}
	var b mat.VecDense
	if err := b.SolveVec(x, y); err != nil {
		t.Fatal(err)
	}
	var res mat.VecDense
	res.MulVec(x, &b)
	res.SubVec(y, &res)
	rss := mat.Dot(&res, &res)
	for j := range d {
		if math.Abs(m.Beta[j]-b.AtVec(j)) > 1e-10*(1+math.Abs(b.AtVec(j))) {
			t.Errorf("beta[%d] = %.12g, OLS %.12g", j, m.Beta[j], b.AtVec(j))
		}
	}
	wantLL := -float64(n) / 2 * (1 + math.Log(2*math.Pi*rss/float64(n)))
	if relDiff(m.S2, rss/float64(n)) > 1e-10 || relDiff(m.LogLik, wantLL) > 1e-12 {
		t.Errorf("S2 %.12g LogLik %.12g, want %.12g %.12g", m.S2, m.LogLik, rss/float64(n), wantLL)
	}
}

// BenchmarkFitLMMSchool times FitLMM (REML, random intercept) on the
// school data of the fixture school_ri, data loading excluded. Compare
// with statsmodels: /usr/bin/python3 testdata/reference.py --time.
func BenchmarkFitLMMSchool(b *testing.B) {
	for _, name := range []string{"school_ri", "school_slope"} {
		b.Run(name, func(b *testing.B) {
			raw, err := os.ReadFile(filepath.Join("testdata", name+".json"))
			if err != nil {
				b.Fatal(err)
			}
			var rc refCase
			if err := json.Unmarshal(raw, &rc); err != nil {
				b.Fatal(err)
			}
			if _, err := os.Stat(schoolCSV); err != nil {
				b.Skipf("%s not present", schoolCSV)
			}
			ds, err := dataset.ReadCSVFile(context.Background(), schoolCSV, dataset.CSVOptions{
				UserColumn: rc.User, TargetColumn: rc.Target, Features: rc.Features, RequireTarget: true,
			})
			if err != nil {
				b.Fatal(err)
			}
			var random []int
			for _, r := range rc.Random {
				random = append(random, slices.Index(ds.Features, r))
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := FitLMM(context.Background(), ds, LMMOptions{Random: random}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// ExampleFitLMM fits a random-intercept model and personalises a user from
// its rows.
func ExampleFitLMM() {
	// Two features: x and a constant bias column. Each user's intercept is
	// shifted by a user effect; the targets have a little noise.
	b := dataset.NewBuilder([]string{"x", "bias"}, true)
	row := 0
	for i, shift := range []float64{-2, -1, 0, 1, 2, -1.5, 0.5, 1.5} {
		for j := range 5 {
			x := float64(j)
			noise := 0.1 * float64((i+j)%3-1)
			b.Add(fmt.Sprint("user", i), []float64{x, 1}, 3+0.5*x+shift+noise, row)
			row++
		}
	}
	ds := b.Dataset()
	m, err := FitLMM(context.Background(), ds, LMMOptions{Random: []int{1}}) // random intercept on bias
	if err != nil {
		fmt.Println(err)
		return
	}
	u := &ds.Users[0]
	mean, cov, err := m.Posterior(u.X, u.Y)
	if err != nil {
		fmt.Println(err)
		return
	}
	pred, _ := m.Predict([]float64{10, 1}, mean) // a new row of user 0
	fmt.Printf("beta %.2f, intercept variance %.3f, noise variance %.4f\n", m.Beta, m.Sigma[0], m.S2)
	fmt.Printf("user 0: intercept shift %.3f (posterior sd %.3f), prediction at x=10: %.2f\n", mean[0], math.Sqrt(cov[0]), pred[0])
	// Output:
	// beta [0.50 3.06], intercept variance 2.119, noise variance 0.0080
	// user 0: intercept shift -2.081 (posterior sd 0.040), prediction at x=10: 6.00
}
