package method

import (
	"fmt"
	"iter"
	"reflect"
	"slices"
	"strings"

	"github.com/lrsp/lrsp/internal/fit"
	"github.com/lrsp/lrsp/model"
)

// Defaults returns the default configuration of the method called name
// trained with loss ("" means model.LossSquared): every field the method
// uses at its default value, as lrsp train's flags default them. Rank and
// Sparsity default to 5 where the method has them.
func Defaults(name, loss string) (Config, error) {
	s, err := Lookup(name, loss)
	if err != nil {
		return Config{}, err
	}
	c := s.defaults()
	c.Version, c.Method, c.Loss = model.ConfigVersion, s.Name, s.Loss
	return c, nil
}

func amhtDefaults() Config {
	return Config{Rank: 5, Sparsity: 5, Rounds: 50, Tolerance: 1e-6, Seed: 1, Init: fit.InitMoments.String(),
		Update: fit.UpdateGradient.String(), Threshold: fit.ThresholdTopK.String(), Refresh: 8, CGIterations: 3}
}

func ridgeDefaults() Config { return Config{} }

func logisticDefaults() Config {
	return Config{Rank: 5, Sparsity: 5, Rounds: 30, Tolerance: 1e-6, Seed: 1, Init: "moments", NewtonSteps: 25,
		CGIterations: 5}
}

func neuralDefaults() Config {
	return Config{Rank: 5, Sparsity: 5, Hidden: []int{64, 32}, Rounds: 100, Batch: 16, LearningRate: 0.003, Seed: 1}
}

// alwaysAllowed are the Config fields that any method may set (the seed
// also seeds a hold-out split).
var alwaysAllowed = []string{"version", "method", "loss", "seed", "selected_by", "stopped", "engine", "software", "extra"}

// Validate checks c for the method it names (c.Method and c.Loss) and data
// of dimension d: the checks every configuration gets (model.Config's
// Validate), no field set that the method does not use (see Spec.Params),
// and the method's own ranges (rank and sparsity within d, for example).
// Errors name the field.
func Validate(c Config, d int) error {
	s, err := Lookup(c.Method, c.Loss)
	if err != nil {
		return err
	}
	if err := c.Validate(d); err != nil {
		return err
	}
	for name, f := range foreign(s, &c) {
		if !f.IsZero() {
			return fmt.Errorf("method: config %s does not apply to %s (%s loss), which uses %s", name, s.Name, s.Loss,
				strings.Join(s.params, ", "))
		}
	}
	if err := s.check(&c, d); err != nil {
		return fmt.Errorf("method: %s: %w", s.Name, err)
	}
	return nil
}

// Restrict returns c with the fields the method does not use (see Params)
// set to zero and c.Method and c.Loss set to the method's, so that one
// configuration can seed several methods (as tune and compare do).
func (s Spec) Restrict(c Config) Config {
	c = c.Clone()
	for _, f := range foreign(s, &c) {
		f.SetZero()
	}
	c.Method, c.Loss = s.Name, s.Loss
	return c
}

// foreign yields the fields of *c, by JSON name, that the method s does
// not use and that not every method may set.
func foreign(s Spec, c *Config) iter.Seq2[string, reflect.Value] {
	return func(yield func(string, reflect.Value) bool) {
		v := reflect.ValueOf(c).Elem()
		t := v.Type()
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if !slices.Contains(alwaysAllowed, name) && !slices.Contains(s.params, name) && !yield(name, v.Field(i)) {
				return
			}
		}
	}
}

func checkNone(*Config, int) error { return nil }

// checkNames checks only the text-valued options (see checkEnums), for
// the methods without a rank or sparsity to bound.
func checkNames(c *Config, _ int) error { return checkEnums(c) }

// checkLowRank checks lrs, lowrank and mixed-lrs: rank in [1, d], sparsity in [0, d]
// (0 for lowrank), and AMHT's enumerations.
func checkLowRank(c *Config, d int) error {
	switch {
	case c.Rank < 1 || c.Rank > d:
		return fmt.Errorf("rank %d must be in [1, %d] (the number of features)", c.Rank, d)
	case c.Sparsity > d:
		return fmt.Errorf("sparsity %d must be in [0, %d] (the number of features)", c.Sparsity, d)
	case c.Method == model.MethodLowRank && c.Sparsity != 0:
		return fmt.Errorf("sparsity %d: a low-rank model has no sparse part (use lrs)", c.Sparsity)
	}
	return checkEnums(c)
}

// checkGlobalSparse checks global-sparse: sparsity in [1, d], no rank.
func checkGlobalSparse(c *Config, d int) error {
	switch {
	case c.Sparsity < 1 || c.Sparsity > d:
		return fmt.Errorf("sparsity %d must be in [1, %d] (the number of features)", c.Sparsity, d)
	case c.Rank != 0:
		return fmt.Errorf("rank %d: a global-sparse model has no U", c.Rank)
	}
	return checkEnums(c)
}

// checkEnums checks the text-valued options against their trainer's
// values.
func checkEnums(c *Config) error {
	inits := fit.Inits()
	if c.Loss == model.LossLogistic {
		inits = []string{"moments", "random"}
	}
	if c.DP != nil {
		if c.Center {
			return fmt.Errorf("center: a shared theta_0 would be published without privacy")
		}
		if c.DP.Init != "private" && c.DP.Init != "random" {
			return fmt.Errorf("dp init %q: want private or random", c.DP.Init)
		}
		if c.DP.Noise != "" && c.DP.Noise != "discrete" && c.DP.Noise != "continuous" {
			return fmt.Errorf("dp noise %q: want discrete or continuous", c.DP.Noise)
		}
		return nil
	}
	for _, e := range []struct {
		name, v string
		want    []string
	}{{"init", c.Init, inits}, {"update", c.Update, fit.Updates()}, {"threshold", c.Threshold, fit.Thresholds()}} {
		if e.v != "" && !slices.Contains(e.want, e.v) {
			return fmt.Errorf("%s %q: want %s", e.name, e.v, strings.Join(e.want, ", "))
		}
	}
	return nil
}

// checkNeural checks the network methods: rank in [1, h] and sparsity in
// [0, h] for neural-lrs, where h is the last hidden width (0 means the
// default widths).
func checkNeural(c *Config, _ int) error {
	if c.Method != model.MethodNeuralLRS {
		return nil
	}
	h := 32
	if n := len(c.Hidden); n > 0 {
		h = c.Hidden[n-1]
	}
	switch {
	case c.Rank < 1 || c.Rank > h:
		return fmt.Errorf("rank %d must be in [1, %d] (the last hidden layer's width)", c.Rank, h)
	case c.Sparsity > h:
		return fmt.Errorf("sparsity %d must be in [0, %d] (the last hidden layer's width)", c.Sparsity, h)
	}
	return nil
}
