package fit

// RoundStats reports one round of training, for every trainer that
// computes losses on the training data (package dp publishes only public
// quantities and reports its releases with its own type).
type RoundStats struct {
	// Round counts from 1.
	Round int `json:"round"`
	// TrainLoss is the mean over users of the per-user mean training loss
	// (squared error, or logistic loss without the ridge) after the round's
	// per-user fits.
	TrainLoss float64 `json:"train_loss"`
	// InlierLoss is TrainLoss over the users kept in the round's shared
	// update, and Outliers the number of users left out (trainers that
	// trim outliers; otherwise InlierLoss equals TrainLoss and Outliers is
	// 0).
	InlierLoss float64 `json:"inlier_loss"`
	Outliers   int     `json:"outliers"`
	// Searched is the number of users whose support of b_i the round
	// searched afresh (trainers with a sparse part that keep supports
	// between rounds; otherwise 0), and Deep how many of those searches
	// were the deep search that outliers get.
	Searched int `json:"searched"`
	Deep     int `json:"deep"`
	// ValidationLoss is the same as TrainLoss on the validation samples,
	// or nil (written as null) without a validation set.
	ValidationLoss *float64 `json:"validation_loss"`
	// Seconds is the wall time of this round alone.
	Seconds float64 `json:"seconds"`
}

// Timing reports how long the parts of a training run other than its
// rounds took, for trainers that have them (zero otherwise).
type Timing struct {
	// SetupSeconds is the time before the first round: the passes over
	// the data for its statistics and the initialisation.
	SetupSeconds float64 `json:"setup_seconds"`
	// FinalSeconds is the time of the final per-user solves after the
	// last round, which refit every user to the published shared part.
	FinalSeconds float64 `json:"final_seconds"`
}
