package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/lrsp/lrsp/internal/fit"
)

// ConfigVersion is the version of Config that this release writes. Version
// 1 is the untyped string map of earlier releases, which Config still
// reads (see Config.UnmarshalJSON); version 2 lacks software,
// random_effects and criterion, and reads unchanged. A reader refuses a
// version above its own by its number, before looking at the fields.
const ConfigVersion = 3

// Pursuit selects how the support of a user's sparse part b_i is searched;
// see amht.Pursuit, its alias, for the values.
type Pursuit = fit.Pursuit

// Config is the typed configuration of a model: the method and options it
// was trained with, as the model file stores them. The fields a method does
// not use are zero; package method documents which method uses which field
// and validates a Config for a method before training.
//
// Per-user fits (personalization) read Ridge, Pursuit, Unpenalized,
// NewtonSteps and DenseRidge; the other fields record how the shared parts
// were trained.
type Config struct {
	// Version is the version of the configuration's format: ConfigVersion
	// for configurations made by this release, 1 for those read from the
	// string maps of earlier files, 0 for none recorded.
	Version int `json:"version"`
	// Method is the method as the user named it (for instance
	// "neural-global", whose Model.Method is MethodGlobal).
	Method string `json:"method,omitempty"`
	// Loss is the training loss (LossSquared, LossLogistic or "").
	Loss string `json:"loss,omitempty"`
	// Rank and Sparsity are the requested r and k.
	Rank     int `json:"rank"`
	Sparsity int `json:"sparsity"`
	// Ridge is the per-user ridge penalty (for the global method, the
	// pooled fit's).
	Ridge float64 `json:"ridge"`
	// Pursuit is the per-user support search of b_i.
	Pursuit Pursuit `json:"pursuit"`
	// Center says whether a shared theta_0 was fitted first, with ridge
	// Theta0Ridge.
	Center      bool    `json:"center,omitempty"`
	Theta0Ridge float64 `json:"theta0_ridge,omitempty"`
	// Unpenalized lists, increasing, the features that per-user ridges do
	// not penalize.
	Unpenalized []int `json:"unpenalized,omitempty"`
	// NewtonSteps bounds the Newton iterations of a logistic per-user fit.
	NewtonSteps int `json:"newton_steps,omitempty"`
	// DenseRidge is the ridge of a dense network head; 0 means a per-user
	// choice by leave-one-out error.
	DenseRidge float64 `json:"dense_ridge,omitempty"`
	// Hidden, Batch and LearningRate configure a network's training.
	Hidden       []int   `json:"hidden,omitempty"`
	Batch        int     `json:"batch,omitempty"`
	LearningRate float64 `json:"learning_rate,omitempty"`
	// RandomEffects names the features that get random effects in the
	// classic mixed model (MethodMixed); the name "intercept" stands for the
	// data's constant feature (a column of ones, such as "bias").
	RandomEffects []string `json:"random_effects,omitempty"`
	// Criterion is the classic mixed model's fitting criterion: "reml"
	// (restricted maximum likelihood) or "ml".
	Criterion string `json:"criterion,omitempty"`
	// Rounds, Tolerance and Seed are the training schedule and seed.
	Rounds    int     `json:"rounds,omitempty"`
	Tolerance float64 `json:"tolerance,omitempty"`
	Seed      uint64  `json:"seed,omitempty"`
	// Init, Update and Threshold name the initialisation of U, its update
	// and the thresholding of b_i.
	Init      string `json:"init,omitempty"`
	Update    string `json:"update,omitempty"`
	Threshold string `json:"threshold,omitempty"`
	// Refresh and CGIterations are AMHT-LRS's and logistic LRS's
	// per-round options.
	Refresh      int `json:"refresh,omitempty"`
	CGIterations int `json:"cg_iterations,omitempty"`
	// DP holds the private training's options, or nil for a model trained
	// without differential privacy (the guarantee itself is Model.Privacy).
	DP *DPConfig `json:"dp,omitempty"`
	// Engine names the engine that ran the rounds (the Beam trainer's).
	Engine string `json:"engine,omitempty"`
	// Stopped says why training ended.
	Stopped string `json:"stopped,omitempty"`
	// SelectedBy describes the model selection that chose the values.
	SelectedBy string `json:"selected_by,omitempty"`
	// Software names the program that wrote the file and its version, as
	// package internal/version formats it ("lrsp v1.2.0", or "lrsp (devel)
	// rev 0123456789ab" for a build from a checkout); empty in files of
	// earlier releases. An earlier release of version 2 refuses a file
	// that records it, naming the unknown field "software".
	Software string `json:"software,omitempty"`
	// Extra holds notes that no field holds: the keys of an earlier file
	// that this release does not know, kept verbatim so that nothing read
	// is dropped, and notes of tools (lrsp store random-model records its
	// generator).
	Extra map[string]string `json:"extra,omitempty"`
}

// DPConfig records the options of differentially private training.
type DPConfig struct {
	Clip            float64 `json:"clip"`
	StepSize        float64 `json:"step"`
	SampleRate      float64 `json:"sample_rate"`
	NoiseMultiplier float64 `json:"noise_multiplier,omitempty"`
	Noiseless       bool    `json:"noiseless,omitempty"`
	Delta           float64 `json:"delta,omitempty"`
	Init            string  `json:"init"`
	// Noise names the noise sampler: "discrete" (the exact discrete
	// Gaussian, the default) or "continuous". Empty in files written
	// before the discrete sampler existed, whose noise was continuous;
	// as an option, empty means the default.
	Noise string `json:"noise,omitempty"`
	// Accountant is the privacy accountant used with sampling: "pld"
	// (empty: the default) or "rdp"; see package accountant.
	Accountant string `json:"accountant,omitempty"`
}

// maxHidden bounds the number of hidden layers a configuration may name.
const maxHidden = 64

// Validate checks the fields every method shares: a known version, finite
// non-negative numbers, a defined pursuit, and, for d > 0, unpenalized
// features in [0, d). It names the field at fault.
func (c *Config) Validate(d int) error {
	if c.Version < 0 || c.Version > ConfigVersion {
		return fmt.Errorf("model: config version %d: this lrsp reads versions up to %d", c.Version, ConfigVersion)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"ridge", c.Ridge}, {"theta0_ridge", c.Theta0Ridge}, {"dense_ridge", c.DenseRidge},
		{"learning_rate", c.LearningRate}, {"tolerance", c.Tolerance}} {
		if !(f.v >= 0) || math.IsInf(f.v, 0) {
			return fmt.Errorf("model: config %s %v must be finite and not negative", f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"rank", c.Rank}, {"sparsity", c.Sparsity}, {"newton_steps", c.NewtonSteps}, {"batch", c.Batch},
		{"rounds", c.Rounds}, {"refresh", c.Refresh}, {"cg_iterations", c.CGIterations}} {
		if f.v < 0 {
			return fmt.Errorf("model: config %s %d must not be negative", f.name, f.v)
		}
	}
	if err := c.Pursuit.Valid(); err != nil {
		return fmt.Errorf("model: config: %w", err)
	}
	if c.Loss != "" && c.Loss != LossSquared && c.Loss != LossLogistic {
		return fmt.Errorf("model: config: unknown loss %q", c.Loss)
	}
	if c.Criterion != "" && c.Criterion != "reml" && c.Criterion != "ml" {
		return fmt.Errorf("model: config criterion %q: want reml or ml", c.Criterion)
	}
	if len(c.Hidden) > maxHidden {
		return fmt.Errorf("model: config hidden: %d layers, at most %d", len(c.Hidden), maxHidden)
	}
	for l, h := range c.Hidden {
		if h <= 0 {
			return fmt.Errorf("model: config hidden: layer %d has width %d", l+1, h)
		}
	}
	for p, j := range c.Unpenalized {
		if j < 0 || (d > 0 && j >= d) || (p > 0 && j <= c.Unpenalized[p-1]) {
			return fmt.Errorf("model: config unpenalized: feature %d out of order or not in [0, %d)", j, d)
		}
	}
	if dp := c.DP; dp != nil {
		for _, v := range []float64{dp.Clip, dp.StepSize, dp.NoiseMultiplier, dp.Delta} {
			if !(v >= 0) || math.IsInf(v, 0) {
				return fmt.Errorf("model: config dp: clip, step, noise multiplier and delta must be finite and not negative")
			}
		}
		if !(dp.SampleRate >= 0 && dp.SampleRate <= 1) {
			return fmt.Errorf("model: config dp: sample rate %v not in [0, 1]", dp.SampleRate)
		}
	}
	return nil
}

// NotPrivateKey is the key of Config.Extra under which a model trained by
// a private trainer without a privacy guarantee (with a fixed noise seed,
// for instance) records why it is not private. Such a model has no ledger
// (Model.Privacy is nil). The note is kept in Extra, which every release
// reads, so that no reader takes the model for a private one.
const NotPrivateKey = "dp_not_private"

// NotPrivate returns the reason recorded by SetNotPrivate, or "" when c
// records none.
func (c *Config) NotPrivate() string { return c.Extra[NotPrivateKey] }

// SetNotPrivate records in c that the model is not differentially private,
// and why.
func (c *Config) SetNotPrivate(reason string) {
	if c.Extra == nil {
		c.Extra = map[string]string{}
	}
	c.Extra[NotPrivateKey] = reason
}

// IsZero reports whether c is the zero Config: no configuration recorded.
func (c *Config) IsZero() bool { return reflect.ValueOf(c).Elem().IsZero() }

// Clone returns a deep copy of c.
func (c Config) Clone() Config {
	c.Unpenalized, c.Hidden = slices.Clone(c.Unpenalized), slices.Clone(c.Hidden)
	c.RandomEffects = slices.Clone(c.RandomEffects)
	if c.DP != nil {
		dp := *c.DP
		c.DP = &dp
	}
	if c.Extra != nil {
		extra := make(map[string]string, len(c.Extra))
		for k, v := range c.Extra {
			extra[k] = v
		}
		c.Extra = extra
	}
	return c
}

// configJSON has Config's fields without its methods, for plain JSON
// encoding.
type configJSON Config

// MarshalJSON writes c as a JSON object of typed values with its version
// (ConfigVersion when c.Version is 0 or 1: the configuration is written in
// this release's format).
func (c Config) MarshalJSON() ([]byte, error) {
	if c.Version < ConfigVersion {
		c.Version = ConfigVersion
	}
	return json.Marshal(configJSON(c))
}

// UnmarshalJSON reads a configuration in either format: an object with a
// "version" key and typed values (this release's), every key known; or
// the string map of earlier files, whose known keys are parsed into the
// typed fields (a value that does not parse is an error naming the key)
// and whose other keys are kept in Extra. Either way the result is then
// checked with Validate(0).
func (c *Config) UnmarshalJSON(b []byte) error {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		return fmt.Errorf("model: config: %w", err)
	}
	var out Config
	if v, ok := keys["version"]; ok {
		var version int
		if err := json.Unmarshal(v, &version); err != nil {
			return fmt.Errorf("model: config version: %w", err)
		}
		if version > ConfigVersion {
			return fmt.Errorf("model: config version %d: this lrsp reads versions up to %d (a newer lrsp wrote it)", version, ConfigVersion)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode((*configJSON)(&out)); err != nil {
			return fmt.Errorf("model: config: %w", err)
		}
		if out.Version < 2 {
			return fmt.Errorf("model: config version %d: typed configurations start at version 2", out.Version)
		}
	} else {
		var legacy map[string]string
		if err := json.Unmarshal(b, &legacy); err != nil {
			return fmt.Errorf("model: config (version 1, string values): %w", err)
		}
		var err error
		if out, err = ParseLegacyConfig(legacy); err != nil {
			return err
		}
	}
	if err := out.Validate(0); err != nil {
		return err
	}
	*c = out
	return nil
}

// ParseLegacyConfig converts the string map that model files stored as
// their configuration before ConfigVersion 2 into a Config of version 1.
// Known keys are parsed (an unparsable value is an error naming the key);
// unknown keys are kept in Extra.
func ParseLegacyConfig(m map[string]string) (Config, error) {
	if len(m) == 0 {
		return Config{}, nil
	}
	c := Config{Version: 1}
	known := map[string]bool{}
	var errs []error
	// take marks key as read and, when m holds it, calls set with its
	// value; a failure is reported as not being want (or as set's error).
	take := func(key, want string, set func(string) error) {
		known[key] = true
		v, ok := m[key]
		if !ok {
			return
		}
		if err := set(v); err != nil && want != "" {
			errs = append(errs, fmt.Errorf("model: config %s = %q is not %s", key, v, want))
		} else if err != nil {
			errs = append(errs, fmt.Errorf("model: config %s: %w", key, err))
		}
	}
	num := func(key string, dst *float64) {
		take(key, "a number", func(v string) (err error) { *dst, err = strconv.ParseFloat(v, 64); return err })
	}
	integer := func(key string, dst *int) {
		take(key, "an integer", func(v string) (err error) { *dst, err = strconv.Atoi(v); return err })
	}
	boolean := func(key string, dst *bool) {
		take(key, "true or false", func(v string) (err error) { *dst, err = strconv.ParseBool(v); return err })
	}
	str := func(key string, dst *string) { take(key, "", func(v string) error { *dst = v; return nil }) }
	ints := func(key string, dst *[]int) {
		take(key, "a list of integers", func(v string) error {
			for f := range strings.SplitSeq(v, ",") {
				if v == "" {
					break
				}
				n, err := strconv.Atoi(f)
				if err != nil {
					return err
				}
				*dst = append(*dst, n)
			}
			return nil
		})
	}
	str("method", &c.Method)
	str("loss", &c.Loss)
	integer("rank", &c.Rank)
	integer("sparsity", &c.Sparsity)
	num("ridge", &c.Ridge)
	take("pursuit", "", func(v string) error { return c.Pursuit.UnmarshalText([]byte(v)) })
	boolean("center", &c.Center)
	num("theta0_ridge", &c.Theta0Ridge)
	ints("unpenalized", &c.Unpenalized)
	integer("newton_steps", &c.NewtonSteps)
	take("dense_ridge", "a number", func(v string) (err error) {
		if strings.HasPrefix(v, "leave-one-out") { // the per-user choice: DenseRidge 0
			return nil
		}
		c.DenseRidge, err = strconv.ParseFloat(v, 64)
		return err
	})
	ints("hidden", &c.Hidden)
	integer("batch", &c.Batch)
	num("learning_rate", &c.LearningRate)
	integer("rounds", &c.Rounds)
	num("tolerance", &c.Tolerance)
	take("seed", "an unsigned integer", func(v string) (err error) { c.Seed, err = strconv.ParseUint(v, 10, 64); return err })
	str("init", &c.Init)
	str("update", &c.Update)
	str("threshold", &c.Threshold)
	integer("refresh", &c.Refresh)
	integer("cg_iterations", &c.CGIterations)
	str("engine", &c.Engine)
	str("stopped", &c.Stopped)
	str("selected_by", &c.SelectedBy)
	if _, ok := m["dp-clip"]; ok {
		dp := &DPConfig{}
		num("dp-clip", &dp.Clip)
		num("dp-step", &dp.StepSize)
		num("dp-sample-rate", &dp.SampleRate)
		num("dp-noise-multiplier", &dp.NoiseMultiplier)
		boolean("dp-noiseless", &dp.Noiseless)
		str("dp-init", &dp.Init)
		c.DP = dp
	}
	for k, v := range m {
		if !known[k] {
			if c.Extra == nil {
				c.Extra = map[string]string{}
			}
			c.Extra[k] = v
		}
	}
	if len(errs) > 0 {
		return Config{}, errs[0]
	}
	return c, nil
}
