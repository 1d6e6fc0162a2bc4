// Package experiment runs the synthetic experiments that show the theory of
// low-rank + sparse personalization, and writes their results as CSV tables
// and PNG plots.
//
// Three experiments are provided:
//
//   - Phase: the fraction of users recovered exactly by AMHT-LRS as the
//     samples per user m and the number of users t vary, for fixed d, r and
//     k, for one or more per-user support searches (amht.Pursuit). A user is
//     recovered exactly when the support of its sparse part equals the true
//     support and its relative parameter error
//     ||theta_i - theta_i*|| / ||theta_i*|| is below a tolerance (1e-6 by
//     default); both are computed by eval.CompareTruth on that user alone.
//   - Rounds: the relative parameter error of lrs and lowrank after each
//     round of alternating minimization, with and without target noise.
//   - Sparsity: the test error of lrs, lowrank, global-sparse and local as
//     the number k of non-zeros of each user's sparse part grows from 0.
//
// Each experiment is a function taking a context and an options struct
// whose zero values are documented, returning a result whose Write method
// writes the CSV and PNG files into a directory (atomically, file by file).
// The data are drawn by package synth and every training run is
// deterministic in the options' Seed.
package experiment
