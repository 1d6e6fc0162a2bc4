package serve

import "github.com/lrsp/lrsp/model"

// theta writes theta_i = theta_0 + U w_i + b_i of user u into dst, equal
// bit for bit to m.Theta(u, dst): each entry is summed in the same order
// (theta_0[j], then U[j][0] w[0], U[j][1] w[1], ..., then b's values).
// It computes eight (then four) entries at a time, so that their chains of
// additions overlap in the CPU instead of each waiting on the one before;
// m.Theta's single chain is bound by the latency of addition.
func theta(m *model.Model, u *model.User, dst []float64) {
	d, r := m.Dim, m.Rank
	if r == 0 || len(u.W) != r || len(m.U) != d*r || len(dst) < d || m.Theta0 != nil && len(m.Theta0) < d {
		m.Theta(u, dst)
		return
	}
	w, U, t0 := u.W, m.U, m.Theta0
	j := 0
	for ; j+8 <= d; j += 8 {
		var s0, s1, s2, s3, s4, s5, s6, s7 float64
		if t0 != nil {
			s0, s1, s2, s3, s4, s5, s6, s7 = t0[j], t0[j+1], t0[j+2], t0[j+3], t0[j+4], t0[j+5], t0[j+6], t0[j+7]
		}
		b := U[j*r : (j+8)*r : (j+8)*r]
		for c, wc := range w {
			s0 += b[c] * wc
			s1 += b[r+c] * wc
			s2 += b[2*r+c] * wc
			s3 += b[3*r+c] * wc
			s4 += b[4*r+c] * wc
			s5 += b[5*r+c] * wc
			s6 += b[6*r+c] * wc
			s7 += b[7*r+c] * wc
		}
		dst[j], dst[j+1], dst[j+2], dst[j+3] = s0, s1, s2, s3
		dst[j+4], dst[j+5], dst[j+6], dst[j+7] = s4, s5, s6, s7
	}
	for ; j+4 <= d; j += 4 {
		var s0, s1, s2, s3 float64
		if t0 != nil {
			s0, s1, s2, s3 = t0[j], t0[j+1], t0[j+2], t0[j+3]
		}
		u0 := U[j*r : (j+1)*r : (j+1)*r][:len(w)]
		u1 := U[(j+1)*r : (j+2)*r : (j+2)*r][:len(w)]
		u2 := U[(j+2)*r : (j+3)*r : (j+3)*r][:len(w)]
		u3 := U[(j+3)*r : (j+4)*r : (j+4)*r][:len(w)]
		for c, wc := range w {
			s0 += u0[c] * wc
			s1 += u1[c] * wc
			s2 += u2[c] * wc
			s3 += u3[c] * wc
		}
		dst[j], dst[j+1], dst[j+2], dst[j+3] = s0, s1, s2, s3
	}
	for ; j < d; j++ {
		s := 0.0
		if t0 != nil {
			s = t0[j]
		}
		row := U[j*r : (j+1)*r]
		for c, wc := range w {
			s += row[c] * wc
		}
		dst[j] = s
	}
	for p, j := range u.Index {
		dst[j] += u.Value[p]
	}
}
