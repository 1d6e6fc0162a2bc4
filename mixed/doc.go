// Package mixed fits linear mixed models of personalized data: every user's
// parameters theta_i = theta_0 + U w_i + b_i are random, w_i ~ N(0, Sigma)
// and each non-zero of b_i ~ N(0, tau^2), the targets carry noise
// N(0, sigma^2), and the shared parts (theta_0, U, Sigma, tau^2, sigma^2)
// are estimated from all users. A user's parameters are then the posterior
// means (best linear unbiased predictions) of w_i and b_i given its few
// samples: users borrow strength from each other in proportion to how
// little they vary, and a user with many samples keeps its own fit.
//
// With U fixed to columns of the identity this is the classic random
// intercept and random slopes model (FitLMM, by REML or maximum
// likelihood); with U learned it is a factor-analytic random-effects model
// over all features (FitLRS, by EM). Posterior personalizes a new user with
// the shared parts fixed.
package mixed
