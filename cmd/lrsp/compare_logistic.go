package main

import (
	"fmt"

	"github.com/lrsp/lrsp/logistic"
	"github.com/lrsp/lrsp/model"
)

// This file holds the flags of lrsp compare --loss logistic
// (see package compare): every method trained by package logistic, tuned
// by validation log loss, scored by log loss, accuracy and mean per-user
// ROC AUC.

// checkCompareLoss validates --loss and, for the logistic loss, that every
// method has a logistic version.
func checkCompareLoss(f *compareFlags) error {
	loss, err := lossName(f.loss)
	if err != nil {
		return err
	}
	f.loss = loss
	if loss != model.LossLogistic {
		return nil
	}
	for _, m := range f.methods {
		if _, err := oneOf("methods", m, logistic.Methods...); err != nil {
			return fmt.Errorf("%w (with --loss logistic)", err)
		}
	}
	return nil
}
