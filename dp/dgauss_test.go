package dp

import (
	"errors"
	"math"
	"math/big"
	mrand "math/rand/v2"
	"slices"
	"testing"
)

// prefixSource yields the bits of prefix (LSB first within each word, as
// bitReader consumes them) followed by zeros.
type prefixSource struct {
	prefix []uint8
	pos    int
}

func (p *prefixSource) Uint64() uint64 {
	var w uint64
	for i := 0; i < 64; i++ {
		if p.pos < len(p.prefix) && p.prefix[p.pos] == 1 {
			w |= 1 << i
		}
		p.pos++
	}
	return w
}

// enumerate runs f on every bit string (depth first, up to maxDepth bits)
// and returns the exact probability of each outcome among the strings on
// which f finishes, and the probability of the strings cut at maxDepth.
func enumerate(t *testing.T, maxDepth int, f func(r *bitReader) int64) (map[int64]float64, float64) {
	t.Helper()
	probs := map[int64]float64{}
	undecided := 0.0
	var walk func(prefix []uint8)
	walk = func(prefix []uint8) {
		r := &bitReader{src: &prefixSource{prefix: prefix}, limit: uint64(len(prefix)), limited: true}
		out, ok := func() (out int64, ok bool) {
			defer func() {
				if v := recover(); v != nil {
					if err, isErr := v.(error); !isErr || !errors.Is(err, errBitLimit) {
						panic(v)
					}
					ok = false
				}
			}()
			return f(r), true
		}()
		if ok {
			if r.used != uint64(len(prefix)) {
				t.Fatalf("finished after %d of %d bits", r.used, len(prefix))
			}
			probs[out] += math.Ldexp(1, -len(prefix))
			return
		}
		if len(prefix) == maxDepth {
			undecided += math.Ldexp(1, -len(prefix))
			return
		}
		walk(append(append([]uint8(nil), prefix...), 0))
		walk(append(append([]uint8(nil), prefix...), 1))
	}
	walk(nil)
	return probs, undecided
}

func TestBitReader(t *testing.T) {
	src := mrand.NewChaCha8([32]byte{1})
	want := mrand.NewChaCha8([32]byte{1})
	r := &bitReader{src: src}
	w0, w1 := want.Uint64(), want.Uint64()
	if got := r.bits(3); got != w0&7 {
		t.Fatalf("bits(3) = %d, want %d", got, w0&7)
	}
	if got := r.bits(64); got != w0>>3|w1<<61 {
		t.Fatalf("bits(64) across words = %x, want %x", got, w0>>3|w1<<61)
	}
	if got := r.bits(61); got != w1>>3 {
		t.Fatalf("bits(61) = %x, want %x", got, w1>>3)
	}
	if r.used != 128 || r.n != 0 {
		t.Fatalf("used %d bits, %d buffered; want 128, 0", r.used, r.n)
	}
}

// TestBernoulliExpExact enumerates every bit string: the probability that
// bernoulliExp succeeds is exp(-gamma) up to the strings not decided
// within the depth, so the sampler makes no approximation.
func TestBernoulliExpExact(t *testing.T) {
	for _, g := range [][2]int64{{0, 1}, {1, 3}, {1, 2}, {3, 4}, {1, 1}, {5, 4}, {7, 3}, {3, 8}} {
		p, undecided := enumerate(t, 20, func(r *bitReader) int64 {
			s := &exactSampler{r: *r}
			defer func() { *r = s.r }()
			if s.bernoulliExp(big.NewInt(g[0]), big.NewInt(g[1])) {
				return 1
			}
			return 0
		})
		want := math.Exp(-float64(g[0]) / float64(g[1]))
		if !(p[1] <= want+1e-15 && want <= p[1]+undecided+1e-15) || undecided > 0.03 {
			t.Errorf("Bernoulli(exp(-%d/%d)): P[1] in [%v, %v], want %v", g[0], g[1], p[1], p[1]+undecided, want)
		}
	}
}

// dgaussPMF returns the pmf of N_Z(0, sigma^2) on [-k, k].
func dgaussPMF(sigma float64, k int) map[int64]float64 {
	z := 0.0
	for y := -k - 60; y <= k+60; y++ {
		z += math.Exp(-float64(y*y) / (2 * sigma * sigma))
	}
	p := map[int64]float64{}
	for y := -k; y <= k; y++ {
		p[int64(y)] = math.Exp(-float64(y*y)/(2*sigma*sigma)) / z
	}
	return p
}

// TestDiscreteGaussianExact enumerates every bit string for sigma = 1/2:
// each value's probability brackets the discrete Gaussian pmf.
func TestDiscreteGaussianExact(t *testing.T) {
	sigma := big.NewRat(1, 2)
	p, undecided := enumerate(t, 16, func(r *bitReader) int64 {
		g, err := NewDiscreteGaussian(sigma, r.src)
		if err != nil {
			t.Fatal(err)
		}
		g.s.r = *r
		defer func() { *r = g.s.r }()
		return g.Sample()
	})
	// Deciding most of the mass needs far deeper strings; the brackets
	// still hold on the decided part.
	if undecided > 0.6 {
		t.Fatalf("undecided mass %v", undecided)
	}
	for y, want := range dgaussPMF(0.5, 3) {
		if !(p[y] <= want+1e-15 && want <= p[y]+undecided+1e-15) {
			t.Errorf("P[%d] in [%v, %v], want %v", y, p[y], p[y]+undecided, want)
		}
	}
}

// TestDiscreteGaussianGolden pins the outputs for a fixed bit stream.
func TestDiscreteGaussianGolden(t *testing.T) {
	for _, tc := range []struct {
		sigma *big.Rat
		want  []int64
	}{
		{big.NewRat(1, 2), []int64{0, 0, 0, 0, 0, 0}},
		{big.NewRat(3, 1), []int64{0, -7, -3, 1, 3, 1}},
		{gridSigma(1e6, 1, GridExponent(1e6, 1)), []int64{547679129264, -1489706224227, -304684410210, 859038922990, 434643132413, -1351636594872}},
	} {
		g, err := NewDiscreteGaussian(tc.sigma, mrand.NewChaCha8([32]byte{7}))
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for range 6 {
			got = append(got, g.Sample())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("sigma %s: samples %v, want %v", tc.sigma.FloatString(1), got, tc.want)
		}
	}
}

// chiSquare returns the chi-square statistic of the counts against the
// expected probabilities of the bins.
func chiSquare(counts []int, probs []float64, n int) float64 {
	x := 0.0
	for i, c := range counts {
		e := probs[i] * float64(n)
		x += (float64(c) - e) * (float64(c) - e) / e
	}
	return x
}

// TestDiscreteGaussianChiSquare compares the empirical distribution with
// the pmf (small sigma: one bin per value, tails merged) or with the
// normal distribution in grid steps (large sigma: 20 equiprobable bins; the
// two differ by less than exp(-2 pi^2 sigma^2) there).
func TestDiscreteGaussianChiSquare(t *testing.T) {
	const n = 20000
	for _, sigma := range []float64{0.5, 1, 3} {
		g, err := NewDiscreteGaussian(new(big.Rat).SetFloat64(sigma), mrand.NewChaCha8([32]byte{byte(sigma * 10)}))
		if err != nil {
			t.Fatal(err)
		}
		k := int(math.Ceil(3 * sigma))
		pmf := dgaussPMF(sigma, k)
		probs := make([]float64, 2*k+3) // [<-k], -k..k, [>k]
		tail := 1.0
		for y, p := range pmf {
			probs[y+int64(k)+1] = p
			tail -= p
		}
		probs[0], probs[2*k+2] = tail/2, tail/2
		counts := make([]int, len(probs))
		for range n {
			y := g.Sample()
			switch {
			case y < int64(-k):
				counts[0]++
			case y > int64(k):
				counts[2*k+2]++
			default:
				counts[y+int64(k)+1]++
			}
		}
		// The 0.999 quantile of chi-square with up to 21 degrees of freedom
		// is below 47.
		if x := chiSquare(counts, probs, n); x > 47 {
			t.Errorf("sigma %v: chi-square %.1f over %d bins", sigma, x, len(probs))
		}
	}
	for _, sigma := range []float64{1e6, 0.5, 1} { // noise multipliers, in grid steps
		s := gridSigma(sigma, 1, GridExponent(sigma, 1))
		sf, _ := s.Float64()
		g, err := NewDiscreteGaussian(s, mrand.NewChaCha8([32]byte{2, byte(sigma)}))
		if err != nil {
			t.Fatal(err)
		}
		const bins = 20
		counts := make([]int, bins)
		for range n {
			u := 0.5 * math.Erfc(-float64(g.Sample())/(sf*math.Sqrt2)) // normal CDF
			counts[min(int(u*bins), bins-1)]++
		}
		probs := make([]float64, bins)
		for i := range probs {
			probs[i] = 1.0 / bins
		}
		if x := chiSquare(counts, probs, n); x > 44 { // 0.999 quantile, 19 df: 43.8
			t.Errorf("noise multiplier %v (sigma %.4g grid steps): chi-square %.1f", sigma, sf, x)
		}
	}
}

// TestDiscreteGaussianVariance checks the sample variance against the
// variance of the pmf (which is sigma^2 up to exp(-2 pi^2 sigma^2)
// relative for sigma >= 1).
func TestDiscreteGaussianVariance(t *testing.T) {
	const n = 20000
	for _, sigma := range []float64{0.5, 2, 1e3, 1e9} {
		g, err := NewDiscreteGaussian(new(big.Rat).SetFloat64(sigma), mrand.NewChaCha8([32]byte{3}))
		if err != nil {
			t.Fatal(err)
		}
		want := sigma * sigma
		if sigma < 1 {
			want = 0
			for y, p := range dgaussPMF(sigma, 20) {
				want += float64(y*y) * p
			}
		}
		v, mean := 0.0, 0.0
		for range n {
			y := float64(g.Sample())
			v += y * y
			mean += y
		}
		v /= n
		mean /= n
		// The sample second moment has relative sd about sqrt(2/n) = 1%.
		if math.Abs(v/want-1) > 0.05 || math.Abs(mean) > 5*math.Sqrt(want/n) {
			t.Errorf("sigma %v: mean %.4g, second moment %.6g, want 0, %.6g", sigma, mean, v, want)
		}
	}
}

func TestDiscreteGaussianErrors(t *testing.T) {
	src := mrand.NewChaCha8([32]byte{})
	for _, s := range []*big.Rat{big.NewRat(0, 1), big.NewRat(-1, 2), new(big.Rat).SetInt64(maxGridSigma)} {
		if _, err := NewDiscreteGaussian(s, src); err == nil {
			t.Errorf("sigma %s: no error", s)
		}
	}
	if _, err := NewDiscreteGaussian(big.NewRat(1, 1), nil); err == nil {
		t.Error("nil source: no error")
	}
	if _, err := ParseNoise("float"); err == nil {
		t.Error("ParseNoise(float): no error")
	}
	for _, n := range []Noise{NoiseDiscrete, NoiseContinuous} {
		if m, err := ParseNoise(n.String()); err != nil || m != n {
			t.Errorf("ParseNoise(%q) = %v, %v", n, m, err)
		}
	}
}

func TestGridExponent(t *testing.T) {
	for _, tc := range []struct{ sigma, clip float64 }{{1, 1}, {0.5, 1}, {3, 1}, {1e6, 1}, {0.7, 3}, {2, 1e-3}} {
		e := GridExponent(tc.sigma, tc.clip)
		steps := min(tc.sigma, 1) * tc.clip / math.Ldexp(1, e)
		if !(steps >= 1<<GridBits && steps < 1<<(GridBits+1)) {
			t.Errorf("sigma %v clip %v: grid 2^%d gives %v steps", tc.sigma, tc.clip, e, steps)
		}
	}
}
