// Package mixed fits linear mixed models to per-user regression data.
//
// Users are the groups of a two-level model: user i has feature rows X_i
// and targets y_i, and
//
//	y_i = X_i (theta_0 + U w_i + b_i) + e_i,  w_i ~ N(0, Sigma),  e_i ~ N(0, s2 I),
//
// where the fixed effects theta_0 are shared by all users and the random
// effects w_i, one vector per user, let the coefficients vary between users
// along the columns of U. A user's parameters are then the posterior means
// (best linear unbiased predictions, BLUPs) of its random effects given its
// few rows: users borrow strength from each other in proportion to how
// little they vary, and a user with many rows keeps its own fit.
//
// FitLMM fits the classic model (Laird & Ware 1982), in which U holds
// chosen columns of the identity (a constant feature gives a random
// intercept, other features random slopes; the LMM type calls the fixed
// effects Beta and the random effects u_i), by restricted or full maximum
// likelihood. FitLRS fits the mixed-model LRS: U (d x r, orthonormal)
// learned, a factor-analytic random-effects model over all features, plus
// a k-sparse b_i whose non-zeros are random too, N(0, tau^2), by EM.
// Personalize and Posterior fit new users with the shared parts fixed.
package mixed
