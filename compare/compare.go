// Package compare trains every method on the same training data and scores
// it on test data: the errors on the test samples of the training users,
// and, when some users are held out of training as new users, the errors on
// theirs after personalizing them from their training samples (a few
// "shots") with everything shared fixed. It is the harness behind
// lrsp compare.
//
// The linear methods of package baseline are tuned (rank, sparsity, ridge
// and centring chosen by held-out per-user validation, package tune) and
// refitted on all training samples. The network methods of package neural
// are not tuned: they train with the given NeuralOptions, stopping early on
// held-out samples of the training users. With the logistic loss every
// method is a method of package logistic, tuned by validation log loss and
// also scored by log loss, accuracy and mean per-user ROC AUC.
package compare

import (
	"context"
	"fmt"
	"slices"

	"github.com/lrsp/lrsp/baseline"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/logistic"
	"github.com/lrsp/lrsp/method"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/neural"
	"github.com/lrsp/lrsp/tune"
)

// The network methods, which Run accepts besides the linear methods.
const (
	// NeuralLRS is a network whose last hidden layer feeds a low-rank +
	// sparse per-user head theta_i = U w_i + b_i.
	NeuralLRS = model.MethodNeuralLRS
	// NeuralDense is a network with a dense per-user head theta_i.
	NeuralDense = model.MethodNeuralDense
	// NeuralGlobal is a network with one head theta_0 shared by all users.
	NeuralGlobal = model.MethodNeuralGlobal
)

// Auto is the row that lrsp train's default makes: the method and its
// settings chosen by tune.Auto among tune.AutoMethods.
const Auto = "auto"

// Methods returns the methods that Run accepts with the squared loss (those
// of package method, and Auto): the linear methods, then the network
// methods. With the logistic loss Run accepts the linear ones.
func Methods() []string { return append(method.Names(), Auto) }

// Options configure Run. The zero value compares the linear methods of
// package baseline by the squared loss on all training samples, with no
// new users, seed 0 and the training packages' defaults.
type Options struct {
	// Methods lists the methods to compare, in the order of the rows of
	// the Result; see Methods. Empty means baseline.Methods (or
	// logistic.Methods for the logistic loss).
	Methods []string
	// Loss is model.LossSquared, or model.LossLogistic for 0/1 targets.
	// Empty means model.LossSquared.
	Loss string
	// Shots keeps at most this many training samples per user, chosen
	// reproducibly from Seed, to study the data-starved regime; 0 keeps
	// them all.
	Shots int
	// NewUsers is the fraction, in [0, 1), of the training users held out
	// as new users (after Shots): their training samples only personalize
	// them against the shared parts learned from the others, and their
	// test samples are scored separately. 0 holds out none.
	NewUsers float64
	// Seed seeds Shots, NewUsers, the validation splits and training.
	Seed uint64
	// Holdout is the fraction of each user's samples held out to score the
	// tuning candidates of the linear methods; 0 means tune's default, 0.2.
	Holdout float64
	// Repeats is the number of random hold-out splits pooled per tuning
	// candidate; 0 means 1.
	Repeats int
	// Rounds bounds the alternating rounds of the linear methods; 0 means
	// the training package's default (50 for amht, 30 for logistic).
	Rounds int
	// Tolerance stops the training of a linear method when a round
	// improves the loss by less than this fraction; 0 runs all rounds.
	Tolerance float64
	// Workers is the number of parallel workers; 0 means one per CPU.
	Workers int
	// RandomEffects, when not empty, names the features with random effects
	// of the mixed method (see method.Config.RandomEffects); empty means
	// the random intercept alone.
	RandomEffects []string
	// Neural configures the network methods.
	Neural NeuralOptions
	// TrainName and TestName name the training and test data in errors,
	// for example by their file names; empty means "training data" and
	// "test data".
	TrainName, TestName string
	// Progress, when not nil, is called as the comparison proceeds, from
	// the goroutine that called Run; see Event.
	Progress func(Event)
}

// NeuralOptions configure the network methods, which are not tuned. Zero
// values mean package neural's defaults, except where noted.
type NeuralOptions struct {
	// Hidden holds the hidden layer widths, each in [1, neural.MaxWidth];
	// the last is the dimension h of theta_i. Empty means {64, 32}.
	Hidden []int
	// Rank is NeuralLRS's rank r of U, in [1, h]; 0 means min(3, h).
	Rank int
	// Sparsity is NeuralLRS's number k of non-zeros of each b_i, in
	// [0, h]; 0 gives the low-rank head theta_i = U w_i.
	Sparsity int
	// Ridge is the per-user ridge; 0 means none for NeuralLRS and a
	// leave-one-out choice per user for NeuralDense.
	Ridge float64
	// Rounds bounds the training rounds (one Adam pass over the users
	// each); 0 means 100.
	Rounds int
	// Batch is the number of users per Adam mini-batch; 0 means 16.
	Batch int
	// LearningRate is Adam's step size; 0 means 0.003.
	LearningRate float64
	// Patience is the number of rounds without validation improvement
	// before training stops; 0 means 10.
	Patience int
	// Validation is the fraction, in [0, 1), of each training user's
	// samples held out for early stopping; 0 holds out none, and training
	// runs all Rounds.
	Validation float64
}

// Event reports the progress of Run. Exactly one of Start, Candidate,
// Round and Done is set.
type Event struct {
	// Method is the method being compared.
	Method string
	// Start reports that the comparison of Method begins.
	Start bool
	// Candidate is a tuning candidate of a linear method, just scored.
	Candidate *tune.Score
	// Round is a training round of a network method, just done.
	Round *neural.RoundStats
	// Done reports that the comparison of Method has ended: its row is
	// complete, or it failed.
	Done bool
}

// Result is the outcome of Run: the shape of the data compared and one row
// per method. Its JSON form is that of lrsp compare --json.
type Result struct {
	// Shots, Seed and Loss are those of the Options (Loss resolved).
	Shots int    `json:"shots"`
	Seed  uint64 `json:"seed"`
	Loss  string `json:"loss"`
	// Users is the number of training users, without the new users.
	Users int `json:"users"`
	// NewUsers is the number of users held out as new users.
	NewUsers int `json:"new_users"`
	// Samples is the number of training samples of the training users.
	Samples int `json:"train_samples"`
	// Dim is the number of features d.
	Dim int `json:"d"`
	// RidgeScale is the mean squared feature value of the training users,
	// which the tuned ridges are relative to (see tune.Result); 0 when no
	// linear method was compared.
	RidgeScale float64 `json:"ridge_scale"`
	// Rows holds one row per method, in the order of Options.Methods.
	Rows []Row `json:"methods"`
}

// Row is one method's line of the comparison.
type Row struct {
	// Method is the method's name.
	Method string `json:"method"`
	// Rank, Sparsity, Ridge and Center are the settings the method was
	// trained with (tuned for a linear method); Sparsity is 0 and Center
	// false for a method that has no such setting.
	Rank     int     `json:"rank"`
	Sparsity int     `json:"sparsity"`
	Ridge    float64 `json:"ridge"`
	Center   bool    `json:"center"`
	// Test scores the training users' test samples.
	Test eval.Errors `json:"test"`
	// New scores the new users' test samples, after personalizing them from
	// their training samples with everything shared fixed; nil without
	// new users.
	New *eval.Errors `json:"new_users,omitempty"`
	// BytesPerUser is what each user costs in the model file.
	BytesPerUser float64 `json:"bytes_per_user"`
	// TrainSeconds is the time of the final fit on all training data;
	// TuneSeconds that of the model selection before it, which scored
	// Candidates candidates.
	TrainSeconds float64 `json:"train_seconds"`
	TuneSeconds  float64 `json:"tune_seconds"`
	Candidates   int     `json:"candidates"`
	// Classification and NewClassification hold the test scores of the
	// logistic loss, for which Test and New score the predicted
	// probabilities (RMSE is the square root of the Brier score).
	Classification    *eval.Classification `json:"classification,omitempty"`
	NewClassification *eval.Classification `json:"new_users_classification,omitempty"`
	// Hidden and Rounds are the hidden widths and training rounds of a
	// network method.
	Hidden []int `json:"hidden,omitempty"`
	Rounds int   `json:"rounds,omitempty"`
}

// data are the four parts of a comparison's data.
type data struct {
	// known are the training users, fresh the new users (nil: none);
	// testKnown and testNew their test samples.
	known, fresh, testKnown, testNew *dataset.Dataset
}

// Run compares opt.Methods: it trains each on train (see the package
// comment) and scores it on test, whose users must all have training
// samples. A method that fails ends the comparison with an error naming
// it. Run stops with ctx's error when ctx is done.
func Run(ctx context.Context, train, test *dataset.Dataset, opt Options) (*Result, error) {
	if err := opt.check(); err != nil {
		return nil, err
	}
	if !slices.Equal(train.Features, test.Features) {
		return nil, fmt.Errorf("compare: %s and %s have different feature columns", opt.TrainName, opt.TestName)
	}
	if opt.Shots > 0 {
		train = dataset.Subsample(train, opt.Shots, opt.Seed)
	}
	var d data
	d.known = train
	if opt.NewUsers > 0 {
		var err error
		if d.known, d.fresh, err = dataset.HoldOutUsers(train, opt.NewUsers, opt.Seed); err != nil {
			return nil, fmt.Errorf("compare: new users: %w", err)
		}
	}
	if err := d.splitTest(test, opt.TestName); err != nil {
		return nil, err
	}
	res := &Result{Shots: opt.Shots, Seed: opt.Seed, Loss: opt.Loss, Users: len(d.known.Users),
		Samples: d.known.Samples(), Dim: d.known.Dim()}
	if d.fresh != nil {
		res.NewUsers = len(d.fresh.Users)
	}
	for _, name := range opt.Methods {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("compare: %w", err)
		}
		row, scale, err := opt.compare(ctx, name, &d)
		if err != nil {
			return nil, fmt.Errorf("compare: %s: %w", name, err)
		}
		if !method.IsNetwork(name) {
			res.RidgeScale = scale
		}
		res.Rows = append(res.Rows, row)
	}
	return res, nil
}

// compare compares one method and tells opt.Progress when it starts and
// when it is done.
func (opt *Options) compare(ctx context.Context, name string, d *data) (Row, float64, error) {
	opt.report(Event{Method: name, Start: true})
	defer opt.report(Event{Method: name, Done: true})
	switch {
	case method.IsNetwork(name):
		row, err := opt.network(ctx, name, d)
		return row, 0, err
	case opt.Loss == model.LossLogistic:
		return opt.logistic(ctx, name, d)
	default:
		return opt.linear(ctx, name, d)
	}
}

func (opt *Options) report(e Event) {
	if opt.Progress != nil {
		opt.Progress(e)
	}
}

// check validates opt and fills in its zero values.
func (opt *Options) check() error {
	if opt.TrainName == "" {
		opt.TrainName = "training data"
	}
	if opt.TestName == "" {
		opt.TestName = "test data"
	}
	switch opt.Loss {
	case "":
		opt.Loss = model.LossSquared
	case model.LossSquared, model.LossLogistic:
	default:
		return fmt.Errorf("compare: unknown loss %q: want %s or %s", opt.Loss, model.LossSquared, model.LossLogistic)
	}
	valid := Methods()
	if opt.Loss == model.LossLogistic {
		valid = logistic.Methods
	}
	if len(opt.Methods) == 0 {
		opt.Methods = slices.Clone(baseline.Methods)
		if opt.Loss == model.LossLogistic {
			opt.Methods = slices.Clone(logistic.Methods)
		}
	}
	network := false
	for _, m := range opt.Methods {
		if !slices.Contains(valid, m) {
			return fmt.Errorf("compare: unknown method %q with the %s loss: want one of %v", m, opt.Loss, valid)
		}
		network = network || method.IsNetwork(m)
	}
	switch {
	case opt.Shots < 0:
		return fmt.Errorf("compare: Shots %d must not be negative", opt.Shots)
	case !(opt.NewUsers >= 0 && opt.NewUsers < 1):
		return fmt.Errorf("compare: NewUsers %v must be in [0, 1)", opt.NewUsers)
	case opt.Rounds < 0:
		return fmt.Errorf("compare: Rounds %d must not be negative", opt.Rounds)
	}
	if network {
		return opt.Neural.check(slices.Contains(opt.Methods, NeuralLRS))
	}
	return nil
}

// splitTest divides the test users into those of d.known and those of
// d.fresh; a test user in neither is an error.
func (d *data) splitTest(test *dataset.Dataset, name string) error {
	var rest *dataset.Dataset
	d.testKnown, rest = dataset.SplitUsers(test, d.known)
	if d.fresh != nil {
		d.testNew, rest = dataset.SplitUsers(rest, d.fresh)
	}
	if len(rest.Users) > 0 {
		u := rest.Users[0]
		return fmt.Errorf("compare: %s: user %q (input row %d) has no training samples", name, u.ID, u.Rows[0]+1)
	}
	if len(d.testKnown.Users) == 0 {
		return fmt.Errorf("compare: %s: no test samples of training users", name)
	}
	if d.fresh != nil && len(d.testNew.Users) == 0 {
		return fmt.Errorf("compare: %s: no test samples of the held-out new users", name)
	}
	return nil
}

// score scores m's predictions of test.
func score(m *model.Model, test *dataset.Dataset) (eval.Errors, error) {
	pred, err := eval.Predict(m, test, eval.UnknownError)
	if err != nil {
		return eval.Errors{}, err
	}
	return eval.Score(test, pred)
}

// withUsers returns a copy of m with users instead of m's.
func withUsers(m *model.Model, users []model.User) *model.Model {
	mn := *m
	mn.Users = users
	return &mn
}
