package logistic

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/synth"
)

// Generate draws synthetic logistic data from the paper's model: it draws
// U*, w_i*, b_i* and x ~ N(0, I_d) as synth.Generate does (o.Noise must be
// 0), scales every theta_i* by scale, and replaces each target by
// y ~ Bernoulli(sigmoid(<x, scale * theta_i*>)). The returned truth holds
// the scaled parameters (w_i* and b_i* times scale; U* unchanged). The
// scale sets how separable the classes are: with ||theta_i*|| about
// sqrt(r + k), scale 1 gives scores of standard deviation about sqrt(r + k).
func Generate(o synth.Options, scale float64) (*synth.Data, error) {
	if o.Noise != 0 {
		return nil, fmt.Errorf("logistic: generate: noise %v must be 0 (the Bernoulli draw is the noise)", o.Noise)
	}
	if !(scale > 0) || math.IsInf(scale, 0) {
		return nil, fmt.Errorf("logistic: generate: scale %v must be positive and finite", scale)
	}
	data, err := synth.Generate(o)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x6c6f6769))
	for _, ds := range []*dataset.Dataset{data.Train, data.New, data.Test} {
		if ds == nil {
			continue
		}
		for i := range ds.Users {
			y := ds.Users[i].Y
			for s, v := range y {
				if rng.Float64() < Sigmoid(scale*v) {
					y[s] = 1
				} else {
					y[s] = 0
				}
			}
		}
	}
	for id, u := range data.Truth.Users {
		for c := range u.W {
			u.W[c] *= scale
		}
		for j, v := range u.B {
			u.B[j] = v * scale
		}
		data.Truth.Users[id] = u
	}
	return data, nil
}
