package serve

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// parseDecimal converts the JSON number b to the nearest float64, ties to
// even, as strconv.ParseFloat does, when decimalFloat can; otherwise it
// reports false.
func parseDecimal(b []byte) (float64, bool) {
	end, m, e, neg, fits, ok := scanNumber(b, 0)
	if !ok || !fits || end != len(b) {
		return 0, false
	}
	return decimalFloat(m, e, neg)
}

// checkDecimal compares parseDecimal with strconv.ParseFloat on one JSON
// number: where parseDecimal answers, the two agree bit for bit.
func checkDecimal(t testing.TB, s string) bool {
	t.Helper()
	got, ok := parseDecimal([]byte(s))
	if !ok {
		return false
	}
	want, err := strconv.ParseFloat(s, 64)
	if err != nil || math.Float64bits(got) != math.Float64bits(want) {
		t.Fatalf("parseDecimal(%q) = %v (%x), strconv.ParseFloat %v (%x), %v", s, got, math.Float64bits(got), want, math.Float64bits(want), err)
	}
	return true
}

// TestParseDecimal checks parseDecimal against strconv.ParseFloat on
// floats printed in every form a client writes (shortest, fixed and
// exponent notation, 1 to 19 digits), on decimal ties and near-ties
// (halfway between two floats, where rounding to even decides), on edge
// forms, and checks that numbers beyond its range are left to strconv.
func TestParseDecimal(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	taken := 0
	for range 200000 {
		var x float64
		switch rng.IntN(4) {
		case 0:
			x = rng.NormFloat64()
		case 1:
			x = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(40)-20))
		case 2:
			x = float64(rng.Int64N(1 << 60))
		default:
			x = math.Float64frombits(rng.Uint64())
			if math.IsNaN(x) || math.IsInf(x, 0) {
				continue
			}
		}
		for _, s := range []string{
			strconv.FormatFloat(x, 'g', -1, 64),
			strconv.FormatFloat(x, 'e', rng.IntN(19), 64),
			strconv.FormatFloat(x, 'f', rng.IntN(20), 64),
			strconv.FormatFloat(x, 'E', -1, 64),
		} {
			if checkDecimal(t, s) {
				taken++
			}
		}
		// A decimal halfway between x and the next float up, and a digit
		// either side of it: the hardest cases for rounding.
		next := math.Nextafter(x, math.Inf(1))
		for _, s := range []string{strconv.FormatFloat(x, 'e', 18, 64), strconv.FormatFloat(next, 'e', 18, 64)} {
			checkDecimal(t, s)
		}
	}
	if taken < 300000 {
		t.Fatalf("parseDecimal took only %d of 800,000 numbers", taken)
	}
	// Exact ties: m * 10^e halfway between two floats. 2^53 + 1 is halfway
	// between 2^53 and 2^53 + 2; the tie goes to even.
	for _, s := range []string{"9007199254740993", "9007199254740995", "9007199254740993.0", "900719925474099.3e1",
		"90071992547409930e-1", "0", "-0", "0.0", "-0.0e5", "0e-30", "1", "-1", "5e-324", "1e19", "1e-19", "1e20",
		"1.7976931348623157e308", "12345678901234567890", "1234567890123456789", "0.1234567890123456789",
		"0.00000000000000000001", "1e+0", "1E-0", "123e-19", "18446744073709551615", "9999999999999999999"} {
		checkDecimal(t, s)
	}
	for _, s := range []string{"12345678901234567890", "1e20", "1e-20", "1e999999999999", "0.12345678901234567890"} {
		if _, ok := parseDecimal([]byte(s)); ok {
			t.Errorf("parseDecimal(%q) answered; it should leave it to strconv", s)
		}
	}
}

// FuzzParseDecimal checks parseDecimal against strconv.ParseFloat on
// numbers built from fuzzed digits and exponents.
func FuzzParseDecimal(f *testing.F) {
	f.Add(uint64(9007199254740993), int8(0), false)
	f.Add(uint64(12345678901234567), int8(-17), true)
	f.Add(uint64(5), int8(-1), false)
	f.Fuzz(func(t *testing.T, m uint64, e int8, neg bool) {
		s := strconv.FormatUint(m, 10) + "e" + strconv.Itoa(int(e))
		if neg {
			s = "-" + s
		}
		checkDecimal(t, s)
		// The same digits with a decimal point inside.
		d := strconv.FormatUint(m, 10)
		if len(d) > 1 {
			checkDecimal(t, d[:1]+"."+d[1:]+"e"+strconv.Itoa(int(e)))
		}
	})
}

// BenchmarkParseDecimal compares parseDecimal with strconv.ParseFloat on
// standard normal numbers in shortest form, as "lrsp loadtest" sends them.
func BenchmarkParseDecimal(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	nums := make([][]byte, 1024)
	for i := range nums {
		nums[i] = strconv.AppendFloat(nil, rng.NormFloat64(), 'g', -1, 64)
	}
	b.Run("parseDecimal", func(b *testing.B) {
		i := 0
		for b.Loop() {
			parseDecimal(nums[i%len(nums)])
			i++
		}
	})
	b.Run("strconv", func(b *testing.B) {
		i := 0
		for b.Loop() {
			strconv.ParseFloat(string(nums[i%len(nums)]), 64)
			i++
		}
	})
}
