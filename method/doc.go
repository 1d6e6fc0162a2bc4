// Package method is lrsp's method contract, in the spirit of
// scikit-learn's estimator API: the one place that knows every method, its
// typed configuration and how to train, personalize and predict with it.
//
// Data flow through the module: package dataset (or pack, for data larger
// than memory) holds the users' samples; a trainer (amht, logistic, neural,
// dp, baseline) runs the per-user solves and the shared update; the result
// is a model.Model, whose Config is the configuration it was trained with;
// package eval predicts with it, and store and serve serve it. Callers
// (cmd/lrsp, serve, tune, compare and the Beam trainer) go through this
// package rather than choosing a trainer themselves:
//
//	cfg, _ := method.Defaults("lrs", model.LossSquared) // the estimator and its parameters
//	cfg.Rank, cfg.Sparsity = 5, 5                      // set_params
//	res, _ := method.Train(ctx, data, cfg, method.Options{})
//	users, _ := method.Personalize(ctx, res.Model, newUsers, method.PersonalizeOptions{})
//	preds, _ := method.Predict(res.Model, test, eval.UnknownError)
//
// Every method is a Spec in one table (registry.go): its name and loss,
// whether its models hold a network or personal parameters, the
// configuration fields it uses, and its train and personalize functions.
// Adding a method means adding one Spec there (and, for a new structure of
// model, its name in package model).
package method
