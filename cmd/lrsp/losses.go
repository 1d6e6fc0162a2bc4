package main

import (
	"fmt"
	"io"

	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/model"
)

// This file holds the command line's handling of the two losses.

// lossName validates the --loss flag and returns model.LossSquared or
// model.LossLogistic.
func lossName(s string) (string, error) {
	i, err := oneOf("loss", s, model.LossSquared, model.LossLogistic)
	if err != nil {
		return "", err
	}
	return []string{model.LossSquared, model.LossLogistic}[i], nil
}

// printClassification writes the classification scores of lrsp eval.
func printClassification(w io.Writer, e *eval.Classification) {
	fmt.Fprintf(w, "samples %d, users %d\nlog loss %.6g  accuracy %.6g  ROC AUC %.6g\n", e.Samples, e.Users, e.LogLoss, e.Accuracy, e.AUC)
	fmt.Fprintf(w, "mean per-user ROC AUC %.6g over %d users with both classes\n", e.MeanUserAUC, e.AUCUsers)
	if e.AUCUsers > 0 {
		printQuantiles(w, "per-user ROC AUC", e.UserAUC)
	}
	printQuantiles(w, "per-user log loss", e.UserLogLoss)
}
