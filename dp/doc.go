// Package dp trains low-rank + sparse personalized models with user-level
// differential privacy in the billboard model.
//
// # Deployment story and threat model
//
// A server holds the shared basis U (d x r, orthonormal columns) and
// publishes it on a "billboard" after every round. Each user keeps its
// samples and its personal parameters (w_i, b_i) to itself: it fits them
// locally against the published U (with the same per-user solver as
// amht.NewPersonalizer) and sends the server only a clipped update for U.
// Everything that leaves the users, that is every published U, is
// (epsilon, delta)-differentially private with respect to adding or
// removing all the data of one user.
//
// The Model returned by [Train] also holds every user's final (w_i, b_i):
// in a simulation on one machine they are computed here, but in the
// deployment they are each user's local state and never leave the user.
// They are not covered by the privacy guarantee and must not be published;
// only Model.U is. The number of enrolled users t is treated as public, as
// in DP-FedAvg (McMahan et al., "Learning Differentially Private Recurrent
// Language Models", ICLR 2018): the server divides the noisy sum by the
// expected number of participants q*t.
//
// # Mechanism
//
// Round l = 1..Rounds: the server samples users (Poisson sampling at rate
// q, or every user when q = 1). Each sampled user i fits (w_i, b_i) with
// the published U fixed, forms its residual e_i = y_i - X_i (U w_i + b_i)
// and its update
//
//	G_i = (1/m_i) X_i^T e_i w_i^T / ||w_i||^2   (d x r, rank one),
//
// and clips it to Frobenius norm at most C. G_i is minus the gradient in U
// of the user's loss (1/(2 m_i)) ||y_i - X_i theta_i||^2, divided by
// ||w_i||^2: it is the smallest change of U that moves U w_i by the user's
// residual direction, and it is dimensionless (it does not change when y is
// rescaled), so a clip norm of about 1 suits any data scale. The server
// adds independent Gaussian noise N(0, (NoiseMultiplier*C)^2) to every
// entry of the sum of the clipped G_i (by default the exact discrete
// Gaussian on a fine grid: see "Discrete noise" below), sets
//
//	U <- QR(U + StepSize * noisy_sum / (q t))
//
// and publishes the Q factor. No other quantity computed from user data
// enters the published U: there is no data-dependent preconditioner, no
// outlier trimming, no early stopping or best-round selection, and the
// R factor of the QR is discarded (users refit w_i against the new U
// themselves). Every published U is therefore post-processing of the noisy
// sums, and each round is one Gaussian mechanism with L2 sensitivity C.
//
// # Initialisation
//
// [InitRandom] draws U from a Gaussian with a seed and costs no privacy.
// [InitPrivate] (the default) estimates the column space of the users'
// parameter vectors: every sampled user sends the outer product v v^T of
// its unit vector v = X_i^T y_i / ||X_i^T y_i||, which has Frobenius norm 1
// (so no clipping is needed); the server adds N(0, NoiseMultiplier^2) noise
// to every entry of the upper triangle of the sum (whose L2 norm changes by
// at most 1 when a user is added or removed), mirrors it and takes the top
// r eigenvectors. It is one more Gaussian mechanism with the same noise
// multiplier and sampling, accounted as release 0: the ledger's Rounds is
// then Options.Rounds + 1.
//
// # Accounting
//
// All releases use the same noise multiplier and sampling rate, so the run
// is accounted with [accountant.Epsilon] for Releases(opt) rounds: the exact
// Gaussian accountant without sampling, the Renyi-DP accountant of the
// sampled Gaussian mechanism with sampling. [Calibrate] inverts it with
// [accountant.NoiseMultiplier].
//
// The guarantee needs delta well below 1/t: a mechanism that publishes
// the data of a random user outright is (0, 1/t)-DP. [Train] refuses a
// delta of 1/t or more unless Options.AllowLargeDelta is set, and
// [CheckDelta] is the rule for callers (the lrsp commands) that check it
// before training.
//
// # Secret randomness
//
// The Gaussian noise and the Poisson sampling of users are drawn from a
// secret seed: 32 bytes from crypto/rand, never stored or published, from
// which each purpose gets its own math/rand/v2 ChaCha8 stream. Options.Seed,
// which the model's configuration records and the HTTP API serves, seeds
// only the data-independent random initialisation, never the sampling:
// anyone who knew the participants of a round could learn from U about
// them. Options.NoiseSeed fixes the secret seed for reproducible
// experiments only; a known seed voids the guarantee, so such a run makes
// no claim: its model has no ledger and its configuration records why
// (model.Config.NotPrivate, which lrsp inspect prints).
//
// # Discrete noise
//
// By default (Options.Noise = NoiseDiscrete) the noise is not sampled in
// floating point, whose low-order bits can reveal the noiseless value
// (Mironov, "On Significance of the Least Significant Bits for
// Differential Privacy", CCS 2012). Instead every release lives on a grid
// of step g = 2^e, with e = [GridExponent](sigma, C): g is the largest
// power of two at most min(sigma, 1) C / 2^GridBits (GridBits = 20), so the
// noise has s = sigma C / g >= 2^20 grid steps per standard deviation.
//
//  1. Each user clips its contribution (D coordinates: d*r for a round,
//     d(d+1)/2 for the private initialisation, where C = 1) to norm at
//     most C' = C - sqrt(D) g / 2 instead of C, and rounds every coordinate
//     to the nearest multiple of g; in grid steps its contribution is an
//     integer vector k.
//  2. The server sums the integer vectors exactly (int64; the Beam trainer
//     adds the grid values in float64, which is exact below 2^53 steps and
//     checked), adds to every coordinate an independent exact sample of the
//     discrete Gaussian N_Z(0, s^2), P[Z = z] proportional to
//     exp(-z^2 / (2 s^2)), and publishes g times the result.
//
// Sensitivity (proof): rounding moves each coordinate by at most g/2, so
// ||round(G) - G|| <= sqrt(D) g/2 and ||round(G)|| <= ||G|| + sqrt(D) g/2 <=
// C. Adding or removing one user therefore changes the integer sum by an
// integer vector of L2 norm at most C/g, and the ratio of noise to
// sensitivity is s / (C/g) = sigma, as with the continuous noise. Every
// user's rounded vector is also checked in exact integer arithmetic
// (||k||^2 <= (C/g)^2, [RoundToGrid]); a violation is an error, never a
// silent release. Converting the noisy integers to float64 is
// post-processing.
//
// Sampler: [DiscreteGaussian] is Algorithm 3 of Canonne, Kamath and Steinke
// ("The Discrete Gaussian for Differential Privacy", NeurIPS 2020; CKS20):
// a discrete Laplace proposal Y of scale t = floor(s) + 1 (their
// Algorithm 2), accepted with probability exp(-(|Y| - s^2/t)^2 / (2 s^2)),
// where exp(-gamma) for rational gamma is drawn by their Algorithm 1 from
// Bernoulli(gamma/k) trials. s^2 is an exact rational (s is a product of
// two float64 values and a power of two, computed in math/big), every
// Bernoulli(n/m) compares a uniform integer in [0, m), drawn by rejection
// from random bits, with n, and no floating-point value enters any
// decision: given uniform bits the output distribution is exactly
// N_Z(0, s^2) (proposals of 2^62 or more, of probability below
// exp(-2^19), are rejected). The bits come from the secret noise stream
// through the [BitSource] interface. A sample takes under a microsecond
// (0.7-0.9 us at s = 2^20 to 2^40, against 0.01 us for NormFloat64).
//
// Accounting: for integer means at L2 distance at most Delta, the
// multivariate discrete Gaussian with independent N_Z(0, s^2) coordinates
// has Renyi divergence at most alpha Delta^2 / (2 s^2) of every order alpha
// > 1 (CKS20, the concentrated-DP analysis of Sections 2 and 4), the same
// bound as the continuous Gaussian: each release is (1/(2 sigma^2))-zCDP,
// exactly like the continuous mechanism, and RDP and zCDP compose
// adaptively. The ledger's numbers are those of the continuous mechanism
// with the same sigma:
//
//   - Without sampling, the exact Gaussian profile of [accountant.Epsilon].
//     CKS20 show that the (epsilon, delta) profile of the discrete Gaussian
//     equals that of the continuous one up to terms of order exp(-2 pi^2
//     s^2 / 2) per coordinate, below 1e-300 at s >= 2^20, far beneath
//     float64 rounding of delta. The strictly zCDP-based bound
//     [accountant.ZCDPToEpsilon] with rho = releases/(2 sigma^2) holds with
//     no approximation at all and is slightly larger.
//   - With sampling, the RDP of the sampled Gaussian (Mironov, Talwar and
//     Zhang 2019). Its binomial expansion of E_{P0}[((1-q) + q P1/P0)^alpha]
//     only uses E_{P0}[(P1/P0)^k] = exp((k-1) D_k(P1||P0)), which the bound
//     above caps at the continuous values, so that direction carries over
//     term by term; their proof that the reverse direction is no larger is
//     specific to the continuous Gaussian and is used here for the discrete
//     one at s >= 2^20, where the two agree to within the same exp(-pi^2
//     s^2) terms. This is not proven here.
//
// The only other change to the mechanism is the clip norm: contributions are
// clipped to C' = C - sqrt(D) g/2, smaller than C by a factor of at least 1
// - sqrt(D) 2^-21 (1e-4 for D = 4e4), and the rounding adds error of at
// most g/2 per coordinate per user, far below the noise. The ledger's
// Mechanism (and Init, for the private initialisation) names the discrete
// noise and its grid, and the model's configuration records the sampler
// (model.DPConfig.Noise). Options.Noise = NoiseContinuous restores the
// floating-point noise for comparison; a noiseless run uses neither grid
// nor noise.
//
// # Caveats
//
// With NoiseContinuous the noise is sampled in floating point, which can
// leak through the low-order bits (Mironov 2012). The Poisson sampling of
// users compares a 53-bit uniform float with q, so the true rate exceeds q
// by less than 2^-53. The privacy of sampling also requires that the server
// does not reveal which users took part in a round.
package dp
