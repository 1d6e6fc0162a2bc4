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
// entry of the sum of the clipped G_i, sets
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
// # Caveats
//
// Like most DP libraries, the noise is sampled in floating point, which is
// known to leak through the low-order bits in theory (Mironov, "On Significance of
// the Least Significant Bits for Differential Privacy", CCS 2012); a
// discrete or snapped Gaussian would remove that gap. The privacy of
// sampling also requires that the server does not reveal which users took
// part in a round.
package dp
