package dp

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"
)

// Noise selects the sampler of the noise added to every release.
type Noise int

const (
	// NoiseDiscrete (the default) rounds every user's contribution to a
	// grid of granularity 2^-k and adds granularity * Z with Z an exact
	// sample of the discrete Gaussian N_Z(0, (sigma*C/granularity)^2)
	// (Canonne, Kamath and Steinke, "The Discrete Gaussian for
	// Differential Privacy", NeurIPS 2020), drawn with integer arithmetic
	// only. See the package documentation.
	NoiseDiscrete Noise = iota
	// NoiseContinuous adds floating-point Gaussian noise (NormFloat64),
	// whose low-order bits can leak (Mironov, CCS 2012); kept for
	// comparison.
	NoiseContinuous
)

// String returns the name used by the command line and the configuration.
func (n Noise) String() string {
	switch n {
	case NoiseDiscrete:
		return "discrete"
	case NoiseContinuous:
		return "continuous"
	}
	return fmt.Sprintf("Noise(%d)", int(n))
}

// ParseNoise returns the Noise named s: "discrete" or "continuous"; ""
// means the default, NoiseDiscrete.
func ParseNoise(s string) (Noise, error) {
	switch s {
	case "", "discrete":
		return NoiseDiscrete, nil
	case "continuous":
		return NoiseContinuous, nil
	}
	return 0, fmt.Errorf("dp: unknown noise %q: want discrete or continuous", s)
}

// GridBits is the resolution of the discrete noise: the grid is the
// largest power of two 2^e <= min(NoiseMultiplier, 1) * C / 2^GridBits, so
// the noise has at least 2^GridBits grid steps per standard deviation and a
// clip norm C holds at least 2^GridBits grid steps.
const GridBits = 20

// maxGridSigma bounds the standard deviation of the discrete noise in grid
// steps, so that samples and sums stay far inside int64.
const maxGridSigma = 1 << 52

// GridExponent returns the exponent e of the grid 2^e of the discrete noise
// for a release with L2 sensitivity clip and noise multiplier sigma (see
// GridBits).
func GridExponent(sigma, clip float64) int {
	_, e := math.Frexp(min(sigma, 1) * clip) // v = f 2^e, f in [1/2, 1)
	return e - 1 - GridBits
}

// BitSource supplies uniformly random bits, 64 at a time. *math/rand/v2.Rand
// and *math/rand/v2.ChaCha8 implement it; tests feed fixed streams.
type BitSource interface {
	Uint64() uint64
}

// bitReader hands out the bits of a BitSource a few at a time, so that
// every decision consumes only the bits it needs.
type bitReader struct {
	src BitSource
	buf uint64
	n   uint // valid low bits of buf
	// used counts the bits handed out; when limited, asking for more than
	// limit bits panics with errBitLimit (tests enumerate every bit string
	// this way).
	used, limit uint64
	limited     bool
}

// errBitLimit is the panic value of a bitReader past its limit.
var errBitLimit = errors.New("dp: bit limit")

// bits returns k <= 64 random bits.
func (b *bitReader) bits(k uint) uint64 {
	if k == 0 {
		return 0
	}
	if b.limited && b.used+uint64(k) > b.limit {
		panic(errBitLimit)
	}
	b.used += uint64(k)
	if b.n >= k {
		v := b.buf & (1<<k - 1)
		if k == 64 {
			v = b.buf
		}
		b.buf >>= k % 64
		if k == 64 {
			b.buf = 0
		}
		b.n -= k
		return v
	}
	// Take the b.n buffered bits, then k-b.n fresh ones.
	have, hn := b.buf, b.n
	b.buf, b.n = b.src.Uint64(), 64
	b.used -= uint64(k - hn) // counted above
	rest := b.bits(k - hn)
	return have | rest<<hn
}

// uniform returns a uniform integer in [0, n), n >= 1, by rejection: it
// draws bits.Len64(n-1) bits until they encode a value below n.
func (b *bitReader) uniform(n uint64) uint64 {
	if n <= 1 {
		return 0
	}
	k := uint(bits.Len64(n - 1))
	for {
		if v := b.bits(k); v < n {
			return v
		}
	}
}

// uniformBig sets x to a uniform integer in [0, n), n >= 1, by rejection
// as uniform, and returns x.
func (b *bitReader) uniformBig(x, n, tmp *big.Int) *big.Int {
	if n.IsUint64() {
		return x.SetUint64(b.uniform(n.Uint64()))
	}
	k := uint(tmp.Sub(n, big.NewInt(1)).BitLen())
	for {
		x.SetUint64(0)
		for left := k; left > 0; {
			c := min(left, 64)
			x.Lsh(x, c)
			x.Or(x, tmp.SetUint64(b.bits(c)))
			left -= c
		}
		if x.Cmp(n) < 0 {
			return x
		}
	}
}

// bernoulli returns true with probability num/den (0 <= num <= den).
func (b *bitReader) bernoulli(num, den *big.Int, x, tmp *big.Int) bool {
	if den.IsUint64() {
		return b.uniform(den.Uint64()) < num.Uint64()
	}
	return b.uniformBig(x, den, tmp).Cmp(num) < 0
}

// exactSampler holds the state and scratch of the exact samplers.
type exactSampler struct {
	r                    bitReader
	kden, x, tmp, q, rem big.Int
}

// bernoulliExp1 returns true with probability exp(-num/den), for
// 0 <= num/den <= 1 (CKS20 Algorithm 1, first case): with K the first k
// >= 1 such that Bernoulli(gamma/k) fails, it returns whether K is odd.
func (s *exactSampler) bernoulliExp1(num, den *big.Int) bool {
	if num.Sign() == 0 {
		return true
	}
	k := uint64(1)
	if num.IsUint64() && den.IsUint64() {
		n, d := num.Uint64(), den.Uint64()
		for ; ; k++ {
			hi, kd := bits.Mul64(d, k)
			if hi != 0 {
				break // k*den overflows: go on in big arithmetic
			}
			if s.r.uniform(kd) >= n {
				return k%2 == 1
			}
		}
	}
	for ; ; k++ {
		s.kden.Mul(den, s.tmp.SetUint64(k))
		if !s.r.bernoulli(num, &s.kden, &s.x, &s.tmp) {
			return k%2 == 1
		}
	}
}

// bernoulliExpMinus1 returns true with probability exp(-1).
func (s *exactSampler) bernoulliExpMinus1() bool {
	for k := uint64(1); ; k++ {
		if s.r.uniform(k) != 0 {
			return k%2 == 1
		}
	}
}

// bernoulliExp returns true with probability exp(-num/den), num >= 0, den
// > 0 (CKS20 Algorithm 1): exp(-gamma) = exp(-1)^floor(gamma) *
// exp(-(gamma - floor(gamma))). It changes neither num nor den.
func (s *exactSampler) bernoulliExp(num, den *big.Int) bool {
	s.q.QuoRem(num, den, &s.rem)
	if s.q.IsUint64() {
		for i := s.q.Uint64(); i > 0; i-- {
			if !s.bernoulliExpMinus1() {
				return false
			}
		}
	} else {
		// floor(gamma) >= 2^64: success needs 2^64 successes of
		// Bernoulli(exp(-1)) in a row; stop at the first failure.
		for s.bernoulliExpMinus1() {
		}
		return false
	}
	return s.bernoulliExp1(&s.rem, den)
}

// DiscreteGaussian draws exact samples of the discrete Gaussian
// N_Z(0, sigma^2), P[Z = z] proportional to exp(-z^2/(2 sigma^2)) on the
// integers, with the rejection sampler of Canonne, Kamath and Steinke
// (NeurIPS 2020, Algorithms 1-3). sigma^2 is an exact rational and every
// decision compares integers: no floating point is involved, so the
// distribution is exact given uniform bits.
type DiscreteGaussian struct {
	s exactSampler
	// sigma^2 = n/d; t = floor(sigma) + 1 is the scale of the discrete
	// Laplace proposal; dt = d*t, bden = 2 d t^2 n is the denominator of
	// the acceptance exponent (|y| d t - n)^2 / (2 d t^2 n).
	n, d, dt, bden big.Int
	t              uint64
	tBig           big.Int
	u, bnum        big.Int
}

// NewDiscreteGaussian returns a sampler of N_Z(0, sigma^2) drawing its bits
// from src. sigma must be positive and below 2^52.
func NewDiscreteGaussian(sigma *big.Rat, src BitSource) (*DiscreteGaussian, error) {
	if sigma.Sign() <= 0 || sigma.Cmp(new(big.Rat).SetInt64(maxGridSigma)) >= 0 {
		return nil, fmt.Errorf("dp: discrete Gaussian sigma %s must be in (0, 2^52)", sigma.FloatString(6))
	}
	if src == nil {
		return nil, errors.New("dp: discrete Gaussian: no bit source")
	}
	g := &DiscreteGaussian{s: exactSampler{r: bitReader{src: src}}}
	s2 := new(big.Rat).Mul(sigma, sigma)
	g.n.Set(s2.Num())
	g.d.Set(s2.Denom())
	// t = floor(sqrt(sigma^2)) + 1 = floor(sqrt(floor(sigma^2))) + 1.
	fl := new(big.Int).Quo(&g.n, &g.d)
	fl.Sqrt(fl)
	g.t = fl.Uint64() + 1
	g.tBig.SetUint64(g.t)
	g.dt.Mul(&g.d, &g.tBig)
	g.bden.Mul(&g.dt, &g.tBig)
	g.bden.Mul(&g.bden, &g.n)
	g.bden.Lsh(&g.bden, 1)
	return g, nil
}

// geometric returns a sample of the geometric distribution with
// P[V = v] proportional to exp(-v/t) (CKS20 Algorithm 2 with s = 1),
// and false when it would not fit in 62 bits (probability below
// exp(-2^9), see Sample).
func (g *DiscreteGaussian) geometric() (uint64, bool) {
	var u uint64
	for {
		u = g.s.r.uniform(g.t)
		if g.s.bernoulliExp(g.u.SetUint64(u), &g.tBig) {
			break
		}
	}
	v := uint64(0)
	for g.s.bernoulliExpMinus1() {
		v++
	}
	hi, vt := bits.Mul64(v, g.t)
	if hi != 0 || vt+u >= 1<<62 {
		return 0, false
	}
	return vt + u, true
}

// Sample returns one sample of N_Z(0, sigma^2) (CKS20 Algorithm 3): a
// discrete Laplace proposal Y of scale t = floor(sigma)+1, accepted with
// probability exp(-(|Y| - sigma^2/t)^2 / (2 sigma^2)). Proposals of
// magnitude 2^62 or more are rejected outright; as sigma < 2^52 their
// acceptance probability is below exp(-2^19), the only departure from the
// exact distribution.
func (g *DiscreteGaussian) Sample() int64 {
	for {
		// Discrete Laplace: sign and magnitude, rejecting "-0".
		neg := g.s.r.bits(1) == 1
		m, ok := g.geometric()
		if !ok || (neg && m == 0) {
			continue
		}
		// Accept with probability exp(-(m d t - n)^2 / (2 d t^2 n)).
		g.bnum.Mul(g.u.SetUint64(m), &g.dt)
		g.bnum.Sub(&g.bnum, &g.n)
		g.bnum.Mul(&g.bnum, &g.bnum)
		if g.s.bernoulliExp(&g.bnum, &g.bden) {
			if neg {
				return -int64(m)
			}
			return int64(m)
		}
	}
}

// gridSigma returns sigma*clip/2^e as an exact rational: the noise's
// standard deviation in grid steps, computed without rounding.
func gridSigma(sigma, clip float64, e int) *big.Rat {
	s := new(big.Rat).SetFloat64(sigma)
	s.Mul(s, new(big.Rat).SetFloat64(clip))
	p := new(big.Int).Lsh(big.NewInt(1), uint(abs(e)))
	if e < 0 {
		return s.Mul(s, new(big.Rat).SetInt(p))
	}
	return s.Quo(s, new(big.Rat).SetInt(p))
}

func abs(e int) int {
	if e < 0 {
		return -e
	}
	return e
}
