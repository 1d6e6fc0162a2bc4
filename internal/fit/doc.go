// Package fit holds the scaffolding that lrsp's trainers (amht, logistic,
// neural, dp, baseline) share, so that each keeps only its mathematics: the
// enumerations of their options with one text form each (Pursuit, Init,
// Update, Threshold), the common schedule options with one resolution and
// validation (Schedule), the reason a trainer stopped (StopReason) and the
// statistics of one round (RoundStats).
package fit
