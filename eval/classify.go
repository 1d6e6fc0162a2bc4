package eval

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/model"
)

// link maps a linear score to the prediction of a model trained with loss:
// the identity for squared error, the sigmoid (a probability) for the
// logistic loss.
func link(loss string, score float64) float64 {
	if loss != model.LossLogistic {
		return score
	}
	if score >= 0 {
		return 1 / (1 + math.Exp(-score))
	}
	e := math.Exp(score)
	return e / (1 + e)
}

// Classification summarises probabilistic predictions of 0/1 targets.
type Classification struct {
	Samples int `json:"samples"`
	Users   int `json:"users"`
	// LogLoss is the mean negative log-likelihood over samples, with
	// probabilities clipped to [1e-15, 1 - 1e-15].
	LogLoss float64 `json:"log_loss"`
	// Accuracy is the fraction of samples whose probability is on the
	// target's side of 1/2.
	Accuracy float64 `json:"accuracy"`
	// AUC is the area under the ROC curve over all samples pooled (ties
	// count one half), or NaN when only one class is present.
	AUC float64 `json:"auc"`
	// MeanUserAUC is the mean of the per-user AUCs over the AUCUsers users
	// whose held-out samples have both classes (the landmine protocol's
	// "mean AUC over tasks"); NaN when there are none.
	MeanUserAUC float64 `json:"mean_user_auc"`
	// AUCUsers counts the users with both classes.
	AUCUsers int `json:"auc_users"`
	// UserAUC holds quantiles of the per-user AUC over those users.
	UserAUC Quantiles `json:"user_auc"`
	// UserLogLoss holds quantiles of the per-user mean log loss.
	UserLogLoss Quantiles `json:"user_log_loss"`
}

// Classify scores probabilities prob (indexed by input row, as Predict
// returns them for a logistic model) against ds's 0/1 targets. A target
// other than 0 or 1, or a probability outside [0, 1], is an error.
func Classify(ds *dataset.Dataset, prob []float64) (Classification, error) {
	var c Classification
	if !ds.HasTarget {
		return c, errors.New("eval: classify: the data have no target column")
	}
	const eps = 1e-15
	var ll float64
	correct := 0
	var all []scored
	var perAUC, perLL []float64
	for i := range ds.Users {
		u := &ds.Users[i]
		if u.Len() == 0 {
			continue
		}
		user := make([]scored, 0, u.Len())
		ul := 0.0
		for s, row := range u.Rows {
			y, p := u.Y[s], prob[row]
			if y != 0 && y != 1 {
				return c, fmt.Errorf("eval: classify: user %q, input row %d: target %v is not 0 or 1", u.ID, row+1, y)
			}
			if !(p >= 0 && p <= 1) {
				return c, fmt.Errorf("eval: classify: user %q, input row %d: prediction %v is not a probability", u.ID, row+1, p)
			}
			q := math.Min(math.Max(p, eps), 1-eps)
			if y == 1 {
				ul -= math.Log(q)
			} else {
				ul -= math.Log(1 - q)
			}
			if (p >= 0.5) == (y == 1) {
				correct++
			}
			user = append(user, scored{p, y == 1})
		}
		ll += ul
		perLL = append(perLL, ul/float64(u.Len()))
		c.Samples += u.Len()
		if a := auc(user); !math.IsNaN(a) {
			perAUC = append(perAUC, a)
		}
		all = append(all, user...)
	}
	c.Users = len(perLL)
	if c.Samples == 0 {
		return c, errors.New("eval: classify: no samples")
	}
	n := float64(c.Samples)
	c.LogLoss = ll / n
	c.Accuracy = float64(correct) / n
	c.AUC = auc(all)
	c.AUCUsers = len(perAUC)
	c.MeanUserAUC = math.NaN()
	if len(perAUC) > 0 {
		sum := 0.0
		for _, a := range perAUC {
			sum += a
		}
		c.MeanUserAUC = sum / float64(len(perAUC))
	}
	c.UserAUC = quantiles(perAUC)
	c.UserLogLoss = quantiles(perLL)
	return c, nil
}

// scored is one prediction and whether its target is positive.
type scored struct {
	p   float64
	pos bool
}

// ROCAUC returns the area under the ROC curve of scores p against 0/1
// labels y (the Mann-Whitney statistic, ties counting one half), or NaN
// when y lacks either class. Any label other than 1 counts as negative.
func ROCAUC(p, y []float64) float64 {
	v := make([]scored, len(p))
	for i := range p {
		v[i] = scored{p[i], y[i] == 1}
	}
	return auc(v)
}

// auc returns the area under the ROC curve of the predictions in v, or NaN
// when v lacks either class. It sorts v.
func auc(v []scored) float64 {
	slices.SortFunc(v, func(a, b scored) int {
		switch {
		case a.p < b.p:
			return -1
		case a.p > b.p:
			return 1
		}
		return 0
	})
	var npos, nneg int
	rankSum := 0.0
	for i := 0; i < len(v); {
		j := i
		for j < len(v) && v[j].p == v[i].p {
			j++
		}
		mid := float64(i+j+1) / 2 // average 1-based rank of the tie group
		for q := i; q < j; q++ {
			if v[q].pos {
				npos++
				rankSum += mid
			} else {
				nneg++
			}
		}
		i = j
	}
	if npos == 0 || nneg == 0 {
		return math.NaN()
	}
	return (rankSum - float64(npos)*float64(npos+1)/2) / (float64(npos) * float64(nneg))
}
