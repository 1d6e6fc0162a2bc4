package method

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/model"
)

// Config is a method's typed configuration: what Train takes and what the
// model file stores (see model.Config for its fields and format).
type Config = model.Config

// Spec describes one method: a name trained with one loss.
type Spec struct {
	// Name is the method's name, as --method and Config.Method spell it.
	Name string
	// Loss is model.LossSquared or model.LossLogistic.
	Loss string
	// Network reports whether the method's models hold a shared network,
	// so that their data are the network's inputs.
	Network bool
	// Personal reports whether users have personal parameters to fit;
	// false for the global methods, whose users all share theta_0.
	Personal bool
	// Private reports whether the method can be trained with user-level
	// differential privacy (Config.DP).
	Private bool
	// Summary says in one line what the method's models are.
	Summary string

	// params lists the Config fields, by JSON name, that the method uses.
	params []string
	// defaults returns the method's default configuration.
	defaults func() Config
	// check adds the method's own checks to the shared ones, for data of
	// dimension d.
	check func(c *Config, d int) error
	// train trains a validated configuration; see Train.
	train func(ctx context.Context, src dataset.Source, c Config, o Options) (*Result, error)
	// personalize fits users against a model the method made; see
	// Personalize. Nil for methods without personal parameters.
	personalize func(ctx context.Context, m *model.Model, ds *dataset.Dataset, workers int) ([]model.User, error)
}

// Params returns the JSON names of the Config fields the method uses.
// Validate rejects a configuration that sets any other field.
func (s Spec) Params() []string { return append([]string(nil), s.params...) }

// Parameter lists shared by several methods.
var (
	amhtParams = []string{"rank", "sparsity", "ridge", "pursuit", "center", "theta0_ridge", "unpenalized",
		"rounds", "tolerance", "seed", "init", "update", "threshold", "refresh", "cg_iterations", "dp"}
	ridgeParams    = []string{"ridge", "unpenalized"}
	logisticParams = []string{"rank", "sparsity", "ridge", "theta0_ridge", "newton_steps",
		"cg_iterations", "rounds", "tolerance", "seed", "init"}
	logisticLRSParams = append([]string{"center"}, logisticParams...)
	neuralParams      = []string{"rank", "sparsity", "ridge", "pursuit", "hidden", "batch", "learning_rate",
		"rounds", "seed", "dense_ridge"}
)

// specs returns the table of every method. It is built on each call, so
// that no caller can change it.
func specs() []Spec {
	sq, lg := model.LossSquared, model.LossLogistic
	return []Spec{
		{Name: model.MethodLRS, Loss: sq, Personal: true, Private: true, params: amhtParams,
			Summary:  "theta_i = U w_i + b_i with k-sparse b_i, trained by AMHT-LRS",
			defaults: amhtDefaults, check: checkLowRank, train: trainLRS, personalize: personalizeAMHT},
		{Name: model.MethodLowRank, Loss: sq, Personal: true, Private: true, params: amhtParams,
			Summary:  "theta_i = U w_i, trained by AMHT-LRS with no sparse part",
			defaults: amhtDefaults, check: checkLowRank, train: trainBaseline, personalize: personalizeAMHT},
		{Name: model.MethodGlobal, Loss: sq, params: ridgeParams,
			Summary:  "one ridge regression theta_0 shared by every user",
			defaults: ridgeDefaults, check: checkNone, train: trainBaseline},
		{Name: model.MethodLocal, Loss: sq, Personal: true, params: ridgeParams,
			Summary:  "a dense ridge regression per user, fitted alone",
			defaults: ridgeDefaults, check: checkNone, train: trainBaseline, personalize: personalizeDense},
		{Name: model.MethodGlobalSparse, Loss: sq, Personal: true, params: amhtParams,
			Summary:  "theta_0 + b_i with k-sparse b_i",
			defaults: amhtDefaults, check: checkGlobalSparse, train: trainBaseline, personalize: personalizeAMHT},
		{Name: model.MethodFinetune, Loss: sq, Personal: true, params: ridgeParams,
			Summary:  "theta_0 + a dense per-user correction (ridge toward theta_0)",
			defaults: ridgeDefaults, check: checkNone, train: trainBaseline, personalize: personalizeDense},
		{Name: model.MethodMixed, Loss: sq, Personal: true, params: []string{"random_effects", "criterion"},
			Summary:  "linear mixed model: theta_0 + random effects on chosen features (random intercept by default)",
			defaults: mixedDefaults, check: checkMixed, train: trainMixed, personalize: personalizeMixed},
		{Name: model.MethodMixedLRS, Loss: sq, Personal: true, params: []string{"rank", "sparsity", "rounds", "tolerance", "seed"},
			Summary:  "mixed-model LRS: theta_0 + U w_i + b_i with w_i ~ N(0, Sigma) and shrunk b_i, fitted by EM",
			defaults: mixedLRSDefaults, check: checkLowRank, train: trainMixedLRS, personalize: personalizeMixed},

		{Name: model.MethodLRS, Loss: lg, Personal: true, params: logisticLRSParams,
			Summary:  "logistic LRS: P(y=1) = sigmoid(<x, U w_i + b_i>)",
			defaults: logisticDefaults, check: checkLowRank, train: trainLogistic, personalize: personalizeLogistic},
		{Name: model.MethodLowRank, Loss: lg, Personal: true, params: logisticLRSParams,
			Summary:  "logistic low rank: sigmoid(<x, U w_i>)",
			defaults: logisticDefaults, check: checkLowRank, train: trainLogistic, personalize: personalizeLogistic},
		{Name: model.MethodGlobal, Loss: lg, params: logisticParams,
			Summary:  "one logistic regression theta_0 shared by every user",
			defaults: logisticDefaults, check: checkNames, train: trainLogistic},
		{Name: model.MethodLocal, Loss: lg, Personal: true, params: logisticParams,
			Summary:  "a dense logistic regression per user, fitted alone",
			defaults: logisticDefaults, check: checkNames, train: trainLogistic, personalize: personalizeLogistic},
		{Name: model.MethodGlobalSparse, Loss: lg, Personal: true, params: logisticParams,
			Summary:  "logistic theta_0 + k-sparse b_i",
			defaults: logisticDefaults, check: checkGlobalSparse, train: trainLogistic, personalize: personalizeLogistic},
		{Name: model.MethodFinetune, Loss: lg, Personal: true, params: logisticParams,
			Summary:  "logistic theta_0 + a dense per-user correction",
			defaults: logisticDefaults, check: checkNames, train: trainLogistic, personalize: personalizeLogistic},

		{Name: model.MethodNeuralLRS, Loss: sq, Network: true, Personal: true, params: neuralParams,
			Summary:  "a shared MLP phi with an LRS output layer: <phi(x), U w_i + b_i>",
			defaults: neuralDefaults, check: checkNeural, train: trainNeural, personalize: personalizeNeural},
		{Name: model.MethodNeuralDense, Loss: sq, Network: true, Personal: true, params: neuralParams,
			Summary:  "a shared MLP phi with a dense per-user head: <phi(x), theta_i>",
			defaults: neuralDefaults, check: checkNeural, train: trainNeural, personalize: personalizeNeural},
		{Name: model.MethodNeuralGlobal, Loss: sq, Network: true, params: neuralParams,
			Summary:  "a shared MLP phi with one shared head: <phi(x), theta_0>",
			defaults: neuralDefaults, check: checkNeural, train: trainNeural},
	}
}

// Methods returns every method, squared-loss methods first.
func Methods() []Spec { return specs() }

// Names returns the distinct method names, in the order of Methods.
func Names() []string {
	var names []string
	for _, s := range specs() {
		if !slices.Contains(names, s.Name) {
			names = append(names, s.Name)
		}
	}
	return names
}

// IsNetwork reports whether name is a method that trains a network (so
// that its data are the network's inputs).
func IsNetwork(name string) bool {
	s, err := Lookup(name, model.LossSquared)
	return err == nil && s.Network
}

// Lookup returns the method called name trained with loss ("" means
// model.LossSquared). Its error lists the methods there are.
func Lookup(name, loss string) (Spec, error) {
	if loss == "" {
		loss = model.LossSquared
	}
	var names []string
	for _, s := range specs() {
		if s.Name == name && s.Loss == loss {
			return s, nil
		}
		if s.Loss == loss {
			names = append(names, s.Name)
		}
	}
	if loss != model.LossSquared && loss != model.LossLogistic {
		return Spec{}, fmt.Errorf("method: unknown loss %q: want %s or %s", loss, model.LossSquared, model.LossLogistic)
	}
	return Spec{}, fmt.Errorf("method: unknown method %q for the %s loss: want one of %s", name, loss, strings.Join(names, ", "))
}

// ForModel returns the method that made m, from its structure (method,
// loss and network) rather than its recorded configuration, so that it
// also serves models whose configuration was not recorded.
func ForModel(m *model.Model) (Spec, error) {
	name := m.Method
	if m.Network != nil && m.Method == model.MethodGlobal {
		name = model.MethodNeuralGlobal
	}
	s, err := Lookup(name, m.Loss)
	if err != nil {
		return s, err
	}
	if s.Network != (m.Network != nil) {
		return s, fmt.Errorf("method: a %s model must %shave a network", name, map[bool]string{true: "", false: "not "}[s.Network])
	}
	return s, nil
}
