package vec

// The pure-Go kernels: the fallback on CPUs without AVX2 and FMA, on other
// architectures and with the purego build tag, and the reference that the
// tests hold the assembly to. Their lengths are checked by the callers.

func dotGeneric(x, y []float64) float64 {
	y = y[:len(x)]
	s := 0.0
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

func axpyGeneric(alpha float64, x, y []float64) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}

func dotRowsGeneric(dst, x, b []float64) {
	n := len(x)
	for c := range dst {
		dst[c] = dotGeneric(x, b[c*n:(c+1)*n])
	}
}

func addSquaresGeneric(dst, x []float64) {
	x = x[:len(dst)]
	for j, v := range x {
		dst[j] += v * v
	}
}

func mulVecTransGeneric(dst, x, v []float64) {
	clear(dst)
	addMulVecTransGeneric(dst, x, v)
}

func addMulVecTransGeneric(dst, x, v []float64) {
	d := len(dst)
	for i, a := range v {
		axpyGeneric(a, x[i*d:(i+1)*d], dst)
	}
}

func widenGeneric(dst []float64, src []float32) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] = float64(v)
	}
}

func subSquaresGeneric(dst, x []float64) {
	x = x[:len(dst)]
	for j, v := range x {
		dst[j] -= v * v
	}
}

func invAboveGeneric(v, inv []float64, floor float64) {
	inv = inv[:len(v)]
	for j, a := range v {
		if a <= floor {
			v[j], inv[j] = 0, 0
		} else {
			inv[j] = 1 / a
		}
	}
}

// scoreMaxGeneric is ScoreMax from index lo on, given the best score and
// its index so far.
func scoreMaxGeneric(c, w []float64, lo int, best float64, bj int) (float64, int) {
	w = w[:len(c)]
	for j := lo; j < len(c); j++ {
		v := c[j] * w[j] * c[j]
		c[j] = v
		if v > best {
			best, bj = v, j
		}
	}
	return best, bj
}
