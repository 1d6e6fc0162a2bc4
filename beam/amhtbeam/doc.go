// Package amhtbeam runs AMHT-LRS training rounds as Apache Beam pipelines,
// so that the per-user work can be spread over a distributed engine
// (Flink, Spark, Google Cloud Dataflow) or run on one machine with Beam's
// Go runner, Prism.
//
// # Design: one pipeline per round
//
// The driver (the process that calls [Train]) holds the shared basis U and
// the few d-sized statistics of the run. Every pass over the users is one
// Beam pipeline:
//
//  1. A statistics pass: per user, the column second moments
//     (1/m) ||X[:, j]||^2 (for the diagonal preconditioner), the mean
//     squared target and, for [InitMoments], the moment matrix
//     (1/m) sum_s y_s^2 x_s x_s^T. The driver takes the top-r eigenvectors
//     of the summed moment matrix as the initial U.
//  2. One pipeline per round: a ParDo over users, with U broadcast as a
//     singleton side input, fits every user's (w_i, b_i) with
//     amht.NewPersonalizer(...).Fit and emits the user's contribution to
//     the U update as one flat vector: the negative half-gradient
//     (1/m) X^T e w^T (d x r), the outer product w w^T (r x r), the user's
//     training MSE and a count. beam.Combine with a CombineFn that sums
//     flat vectors reduces them to one vector, which a last ParDo writes to
//     a small file that the driver reads back.
//  3. The driver takes the preconditioned gradient step
//     U <- U + StepSize * D^{-1} G W^{-1} (D the mean column second
//     moments, W = sum_i w_i w_i^T), as amht's UpdateGradient does, and
//     re-orthonormalises U = QR. The R factor is not folded into the w_i:
//     no w_i outlives its round, since every round refits every user from
//     scratch against the new U.
//  4. The last round also writes every user's parameters as sharded JSON
//     lines (see [ReadUserShards]); the driver reads them back and builds a
//     model.Model that model.Save writes in the lrsp file format.
//
// Rounds keeps amht's meaning: Rounds passes of per-user fits with Rounds-1
// U updates between them; training stops early when the mean training MSE
// is zero to rounding or improves by less than Tolerance (a stop before the
// last round adds one pass that writes the users).
//
// One pipeline per round keeps every pipeline a plain batch job that every
// runner supports; the alternative, an iterative pipeline, is not
// expressible in Beam's model. The price is the per-pipeline start-up cost,
// which the package benchmarks measure.
//
// # Differential privacy
//
// With Options.Privacy set, the rounds follow the billboard mechanism of
// package dp: each user's contribution is its update
// G_i = (1/m) X^T e w^T / ||w||^2 clipped to Frobenius norm Clip; Gaussian
// noise N(0, (NoiseMultiplier*Clip)^2) is added to every entry of the
// combined sum, once per round, and the driver steps
// U <- QR(U + StepSize*sum/t) and discards R. U starts at random (no privacy
// cost), there is no preconditioner, no statistics pass and no early
// stopping; Rounds noisy updates are followed by one pass that fits and
// writes the users.
//
// The noise is added where the sum is formed, not by the driver: the
// pipeline's CombineFn adds it in ExtractOutput (see [AddNoise]), from 32
// bytes of crypto/rand drawn on the worker, so the only sum that leaves the
// combine and is written to TempDir is the noisy one, and no noise key is
// in the pipeline's definition. Two caveats: the partial sums of the
// combine (un-noised) still pass through the runner's shuffle, which the
// runner may keep on its own storage, so the runner is trusted as the
// server is; and a runner that retries the extracting bundle draws fresh
// noise, so an observer of TempDir who saw both attempts' files would see
// the same sum twice with independent noise (the file is replaced
// atomically, and the driver reads one). The private path also writes no
// per-user training loss (Fit.MSE is omitted) and reports none
// (RoundStats.TrainLoss is NaN). The user shards hold every user's (w_i,
// b_i), which in the billboard model is each user's own local state.
//
// # Engines and equivalence
//
// [Train] takes an [Engine]. [Pipeline] runs each pass as a Beam pipeline;
// [InProcess] runs exactly the same per-user code and the same driver
// update in a plain loop. The two produce the same model up to the order
// in which floating-point contributions are summed.
package amhtbeam
