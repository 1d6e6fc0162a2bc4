package compare

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/lrsp/lrsp/internal/fit"
	"github.com/lrsp/lrsp/method"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/neural"
)

// check validates the network options and fills in Hidden and Rank; lrs
// says whether NeuralLRS, the only method with a rank and a sparsity, is
// compared.
func (n *NeuralOptions) check(lrs bool) error {
	if len(n.Hidden) == 0 {
		n.Hidden = []int{64, 32}
	}
	for _, h := range n.Hidden {
		if h < 1 || h > neural.MaxWidth {
			return fmt.Errorf("compare: hidden widths %v: every width must be in [1, %d]", n.Hidden, neural.MaxWidth)
		}
	}
	last := n.Hidden[len(n.Hidden)-1]
	if n.Rank == 0 {
		n.Rank = min(3, last)
	}
	switch {
	case lrs && (n.Rank < 0 || n.Rank > last):
		return fmt.Errorf("compare: neural rank %d must be in [1, %d] (the last hidden width)", n.Rank, last)
	case lrs && (n.Sparsity < 0 || n.Sparsity > last):
		return fmt.Errorf("compare: neural sparsity %d must be in [0, %d] (the last hidden width)", n.Sparsity, last)
	case !(n.Ridge >= 0) || math.IsInf(n.Ridge, 0):
		return fmt.Errorf("compare: neural ridge %v must be finite and not negative", n.Ridge)
	case n.Rounds < 0:
		return fmt.Errorf("compare: neural rounds %d must not be negative", n.Rounds)
	case n.Batch < 0:
		return fmt.Errorf("compare: neural batch %d must not be negative", n.Batch)
	case !(n.LearningRate >= 0) || math.IsInf(n.LearningRate, 0):
		return fmt.Errorf("compare: neural learning rate %v must be finite and not negative", n.LearningRate)
	case n.Patience < 0:
		return fmt.Errorf("compare: neural patience %d must not be negative", n.Patience)
	case !(n.Validation >= 0 && n.Validation < 1):
		return fmt.Errorf("compare: neural validation %v must be in [0, 1)", n.Validation)
	}
	return nil
}

// network trains one network method on the training users (early stopping
// on Neural.Validation of their samples, then every user refitted on all
// its samples with the network fixed) and scores it; new users are
// personalized from their training samples with the network and U fixed.
func (opt *Options) network(ctx context.Context, name string, d *data) (Row, error) {
	n := &opt.Neural
	row := Row{Method: name, Hidden: slices.Clone(n.Hidden)}
	cfg := method.Config{Method: name, Hidden: slices.Clone(n.Hidden), Rounds: n.Rounds, Batch: n.Batch,
		LearningRate: n.LearningRate, Ridge: n.Ridge, Seed: opt.Seed}
	if name == NeuralLRS {
		cfg.Rank, cfg.Sparsity = n.Rank, n.Sparsity
	}
	o := method.Options{Holdout: n.Validation, Patience: n.Patience, Workers: opt.Workers}
	if opt.Progress != nil {
		o.Progress = func(st fit.RoundStats) { opt.Progress(Event{Method: name, Round: &st}) }
	}
	start := time.Now()
	res, err := method.Train(ctx, d.known, cfg, o)
	if err != nil {
		return row, err
	}
	m := res.Model
	row.TrainSeconds = time.Since(start).Seconds()
	row.Rounds, row.Rank, row.Sparsity, row.Ridge = len(res.Rounds), m.Rank, m.Sparsity, n.Ridge
	if m.Method != model.MethodNeuralLRS {
		row.Sparsity = 0
	}
	row.BytesPerUser = m.BytesPerUser()
	if row.Test, err = score(m, d.testKnown); err != nil {
		return row, err
	}
	if d.fresh != nil {
		users, err := method.Personalize(ctx, m, d.fresh, method.PersonalizeOptions{Workers: opt.Workers})
		if err != nil {
			return row, err
		}
		e, err := score(withUsers(m, users), d.testNew)
		if err != nil {
			return row, err
		}
		row.New = &e
	}
	return row, nil
}
