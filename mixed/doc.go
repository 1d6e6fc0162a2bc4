// Package mixed fits linear mixed models to per-user regression data.
//
// Users are the groups of a two-level model: user i has feature rows X_i
// and targets y_i, and
//
//	y_i = X_i beta + Z_i u_i + e_i,   u_i ~ N(0, Sigma),   e_i ~ N(0, s2 I),
//
// where the fixed effects beta are shared by all users and the random
// effects u_i, one vector per user, let chosen coefficients vary between
// users. FitLMM fits the classic model (Laird & Ware 1982), in which Z_i
// holds chosen columns of X_i (a constant column gives a random intercept,
// other columns random slopes), by restricted or full maximum likelihood.
// A fitted LMM gives each user's random effects as best linear unbiased
// predictions (BLUPs) with their posterior covariance, for training users
// and for new users alike, from the user's rows with the parameters fixed.
package mixed
