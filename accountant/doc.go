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
// With sampling, [RDPSampledGaussian] computes the Renyi differential privacy
// of the sampled Gaussian mechanism (Mironov, Talwar and Zhang, "Renyi
// Differential Privacy of the Sampled Gaussian Mechanism", 2019), which
// composes additively over rounds, and [RDPToEpsilon] converts it to
// (epsilon, delta) with the conversion of Balle, Barthe, Gaboardi, Hsu and
// Sato ("Hypothesis Testing Interpretations and Renyi Differential Privacy",
// AISTATS 2020, Theorem 21). [Epsilon] and [NoiseMultiplier] select the right
// method from a [Params] value.
//
// Every epsilon returned by this package is an upper bound, up to
// floating-point rounding: numerical searches and series truncations stop on
// the conservative side of the true value.
package accountant
