package serve

import (
	"math"
	"math/bits"
)

// pow10f holds 10^0 .. 10^19 as float64s, all exact (10^22 is the last
// power of ten that is).
var pow10f = [20]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// pow10u holds 10^0 .. 10^19, the powers of ten that fit in a uint64.
var pow10u = [20]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// scanNumber reads the JSON number that starts at b[i] and returns the
// index after it, its sign, and its value as m * 10^e with m the first
// significant digits; fits is false (and m and e are meaningless) when the
// number has more than 19 significant digits or an exponent beyond 10^6,
// which decimalFloat does not convert. ok is false when b[i:] does not start with a JSON number.
func scanNumber(b []byte, i int) (end int, m uint64, e int, neg, fits, ok bool) {
	fits = true
	digits := 0
	digit := func(c byte) {
		if m == 0 && c == '0' {
			return // leading zeros
		}
		if digits == 19 {
			fits = false
			return
		}
		m = m*10 + uint64(c-'0')
		digits++
	}
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
			digit(b[i])
		}
	default:
		return 0, 0, 0, false, false, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return 0, 0, 0, false, false, false
		}
		for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
			e--
			digit(b[i])
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			eneg = b[i] == '-'
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return 0, 0, 0, false, false, false
		}
		x := 0
		for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
			if x < 1e6 {
				x = x*10 + int(b[i]-'0')
			} else {
				fits = false
			}
		}
		if eneg {
			x = -x
		}
		e += x
	}
	return i, m, e, neg, fits, true
}

// decimalFloat returns the float64 nearest to m * 10^e (negated if neg),
// ties to even, as strconv.ParseFloat does, when |e| <= 19; otherwise it
// reports false. Such numbers, which include every float64 printed in its
// shortest form with an exponent in that range, are converted with one
// floating-point operation (m below 2^53: m and 10^|e| are exact float64s
// and IEEE arithmetic rounds once) or one 64-bit multiplication or
// 128-by-64-bit division and exact rounding: strconv's general algorithm
// spends most of its time scanning for forms that JSON does not allow
// (underscores, hexadecimal, "inf").
func decimalFloat(m uint64, e int, neg bool) (float64, bool) {
	if m == 0 {
		if neg {
			return math.Copysign(0, -1), true
		}
		return 0, true
	}
	if e < -19 || e > 19 {
		return 0, false
	}
	if m < 1<<53 {
		// m and 10^|e| are exact float64s, and IEEE multiplication and
		// division round their exact result once, to nearest even.
		v := float64(m)
		if e >= 0 {
			v *= pow10f[e]
		} else {
			v /= pow10f[-e]
		}
		if neg {
			v = -v
		}
		return v, true
	}
	// q, with its top bit set, and sticky (the bits below q are not all
	// zero) give the value: in [q, q+1) * 2^b2 when sticky, q * 2^b2 when not.
	var q uint64
	var b2 int
	var sticky bool
	if e >= 0 {
		hi, lo := bits.Mul64(m, pow10u[e])
		if hi == 0 {
			s := bits.LeadingZeros64(lo)
			q, b2 = lo<<s, -s
		} else {
			s := bits.LeadingZeros64(hi)
			q, b2 = hi<<s|lo>>(64-s), 64-s
			sticky = lo<<s != 0 // lo>>(64-s) is 0 for s = 0
		}
	} else {
		sm := bits.LeadingZeros64(m)
		n := pow10u[-e]
		sn := bits.LeadingZeros64(n)
		mm, nn := m<<sm, n<<sn // both in [2^63, 2^64)
		var r uint64
		if mm < nn {
			q, r = bits.Div64(mm, 0, nn) // mm*2^64/nn in [2^63, 2^64)
			b2 = sn - sm - 64
		} else {
			q, r = bits.Div64(mm>>1, mm<<63, nn) // mm*2^63/nn in [2^63, 2^64)
			b2 = sn - sm - 63
		}
		sticky = r != 0
	}
	// Round the 64 bits of q to 53, to nearest, ties to even.
	mant, rest := q>>11, q&(1<<11-1)
	const half = 1 << 10
	if rest > half || rest == half && (sticky || mant&1 == 1) {
		mant++
		if mant == 1<<53 {
			mant >>= 1
			b2++
		}
	}
	// mant is in [2^52, 2^53): the value is 1.f * 2^(52+b2+11), a normal
	// float64 for every m and e taken here.
	u := uint64(52+b2+11+1023)<<52 | mant&(1<<52-1)
	if neg {
		u |= 1 << 63
	}
	return math.Float64frombits(u), true
}
