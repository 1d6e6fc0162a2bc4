package accountant_test

import (
	"fmt"

	"github.com/lrsp/lrsp/accountant"
)

// This example calibrates the noise for 2250 rounds in which each user
// participates with probability 0.04, targeting (8, 1e-5)-DP, and then
// reports the guarantee of the calibrated run.
func Example() {
	const (
		epsilon    = 8.0
		delta      = 1e-5
		rounds     = 2250
		sampleRate = 0.04
	)
	sigma, err := accountant.NoiseMultiplier(epsilon, delta, rounds, sampleRate)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("noise multiplier: %.4f\n", sigma)

	res, err := accountant.Epsilon(accountant.Params{
		NoiseMultiplier: sigma,
		SampleRate:      sampleRate,
		Rounds:          rounds,
		Delta:           delta,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("epsilon: %.4f at delta %g\n", res.Epsilon, res.Delta)
	fmt.Println("accountant:", res.Accountant[:12])

	// The Renyi-DP accountant needs more noise for the same target.
	rdpSigma, err := accountant.NoiseMultiplierFor(epsilon, accountant.Params{
		Delta: delta, Rounds: rounds, SampleRate: sampleRate, Accountant: accountant.AccountantRDP})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("rdp noise multiplier: %.4f\n", rdpSigma)
	// Output:
	// noise multiplier: 1.3463
	// epsilon: 7.9994 at delta 1e-05
	// accountant: pld-sampled-
	// rdp noise multiplier: 1.4196
}

// Without sampling, the exact accountant for the Gaussian mechanism is used.
func ExampleEpsilon_noSampling() {
	res, err := accountant.Epsilon(accountant.Params{NoiseMultiplier: 1, Rounds: 1, Delta: 1e-5})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("epsilon: %.4f (%s)\n", res.Epsilon, res.Accountant)
	// Output:
	// epsilon: 4.3772 (gaussian-exact (Balle-Wang 2018))
}

// RDPSampledGaussian and RDPToEpsilon can be combined by hand, for example
// to compose rounds with different parameters.
func ExampleRDPToEpsilon() {
	orders := accountant.DefaultOrders()
	rdp := make([]float64, len(orders))
	for k, a := range orders {
		// 1000 rounds at sampling rate 0.01 with noise 1.0, then 500
		// rounds at sampling rate 0.02 with noise 1.5.
		r1, err := accountant.RDPSampledGaussian(0.01, 1.0, a)
		if err != nil {
			fmt.Println(err)
			return
		}
		r2, err := accountant.RDPSampledGaussian(0.02, 1.5, a)
		if err != nil {
			fmt.Println(err)
			return
		}
		rdp[k] = 1000*r1 + 500*r2
	}
	eps, order, err := accountant.RDPToEpsilon(orders, rdp, 1e-5)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("epsilon %.3f at order %g\n", eps, order)
	// Output:
	// epsilon 2.562 at order 7.5
}
