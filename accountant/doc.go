// Package accountant computes differential-privacy guarantees for user-level
// training with the Gaussian mechanism, with and without Poisson subsampling
// of users.
//
// # Threat model and units
//
// All functions assume the following setting. In each round, every
// participating user's total contribution (for example, a model update) is
// clipped to L2 norm at most C, the clipped contributions are summed, and
// Gaussian noise with standard deviation sigma*C is added to the sum. The
// noise multiplier sigma is therefore expressed in units of the clipping norm,
// and the mechanism has L2 sensitivity 1 in those units. Neighbouring datasets
// differ by adding or removing all the data of one user (add/remove-one
// adjacency). Without sampling, replace-one adjacency doubles the
// sensitivity; account for it by passing sigma/2. When sampling is used, each
// user participates in each round independently with probability q (Poisson
// sampling), and the bounds hold for add/remove-one adjacency only; uniformly
// shuffled fixed-size batches are not covered.
//
// # Methods
//
// Without sampling, composing T Gaussian mechanisms with noise multiplier
// sigma is exactly one Gaussian mechanism with noise multiplier
// sigma/sqrt(T). Its privacy profile is known in closed form (Balle and Wang,
// "Improving the Gaussian Mechanism for Differential Privacy", ICML 2018,
// Theorem 8), and [ZCDPEpsilon] inverts it numerically, which gives the
// smallest epsilon that is valid for the given delta. The looser conversions
// from zero-concentrated DP, [ZCDPToEpsilon] (Canonne, Kamath and Steinke,
// "The Discrete Gaussian for Differential Privacy", NeurIPS 2020) and
// [ZCDPLooseEpsilon] (Bun and Steinke, TCC 2016), are provided for comparison
// and for mechanisms that are only known to satisfy rho-zCDP.
//
// With sampling, the default accountant is the privacy loss distribution
// (PLD) accountant [PLDEpsilon], the method of Google's dp_accounting and of
// Opacus' PRV accountant (Koskela, Jalko and Honkela, AISTATS 2020;
// Doroshenko, Ghazi, Kamath, Kumar and Manurangsi, "Connect the Dots",
// PoPETs 2022). For removal and for addition of a user, the privacy loss of
// one round of the sampled Gaussian mechanism is discretised on a grid of
// interval h: the mass between two grid points is split between them so
// that both distributions keep their mass, which yields a pair of
// distributions that dominates the true pair; mass in the far tails is moved
// to +Inf (upper) or to the lowest grid point (lower). The T-fold
// composition is the T-th power of the FFT of the discretised distribution
// on a circular grid whose ends are chosen by Chernoff bounds, the mass
// beyond them being added to delta. Epsilon is the smallest value at which
// the hockey-stick divergence of the result is at most delta, and the larger
// of the removal and addition values is returned. It is therefore a
// certified upper bound (up to floating-point rounding), and the default
// interval (see [PLDOptions]) keeps it within about 0.5% of the true
// epsilon for sampling rates 1e-3..1, noise multipliers 0.5..20, 1..10^4
// rounds and delta 1e-5..1e-8; docs/dp/accountant.md compares it with an
// independent numerical bracket and with RDP. It takes 10 to 300 ms.
//
// The Renyi-DP accountant remains available (Params.Accountant = "rdp"):
// [RDPSampledGaussian] computes the Renyi differential privacy
// of the sampled Gaussian mechanism (Mironov, Talwar and Zhang, "Renyi
// Differential Privacy of the Sampled Gaussian Mechanism", 2019), which
// composes additively over rounds, and [RDPToEpsilon] converts it to
// (epsilon, delta) with the conversion of Balle, Barthe, Gaboardi, Hsu and
// Sato ("Hypothesis Testing Interpretations and Renyi Differential Privacy",
// AISTATS 2020, Theorem 21), over the orders of [DefaultOrders]; the result
// carries a warning when the best order is at the edge of the grid. It is
// looser than the PLD accountant (typically 5-15% larger epsilon) but needs
// no discretisation. [Epsilon], [NoiseMultiplier] and [NoiseMultiplierFor]
// select the right method from a [Params] value.
//
// Every epsilon returned by this package is an upper bound, up to
// floating-point rounding: numerical searches and series truncations stop on
// the conservative side of the true value.
package accountant
