package method

import (
	"context"
	"errors"
	"fmt"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/baseline"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/logistic"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/neural"
)

// PersonalizeOptions configures Personalize. The per-user options (ridge,
// pursuit, Newton steps) are the model's: to personalize with others, pass
// a copy of the model with a changed Config, as scikit-learn's set_params
// does.
type PersonalizeOptions struct {
	// Workers is the number of parallel workers; 0 means GOMAXPROCS. The
	// users do not depend on it.
	Workers int
}

// Personalize fits the users of ds against m with everything shared fixed
// (U, theta_0, the network), by the method that made m and with the
// per-user options of m.Config, and returns their parameters in the order
// of ds.Users; it does not change m (Upsert the users to keep them). The
// users of a global model get no personal parameters. ds must have targets
// and the model's features (the network's inputs for a network model).
func Personalize(ctx context.Context, m *model.Model, ds *dataset.Dataset, opt PersonalizeOptions) ([]model.User, error) {
	s, err := ForModel(m)
	if err != nil {
		return nil, err
	}
	if err := checkPersonalize(m, ds); err != nil {
		return nil, err
	}
	if s.personalize == nil {
		users := make([]model.User, len(ds.Users))
		for i := range ds.Users {
			users[i] = model.User{ID: ds.Users[i].ID, W: []float64{}}
		}
		return users, nil
	}
	return s.personalize(ctx, m, ds, opt.Workers)
}

// checkPersonalize checks the data and the model's configuration.
func checkPersonalize(m *model.Model, ds *dataset.Dataset) error {
	if !ds.HasTarget {
		return errors.New("method: personalize: the data have no target column")
	}
	if err := eval.CheckFeatures(m, ds); err != nil {
		return fmt.Errorf("method: personalize: %w", err)
	}
	if err := m.Config.Validate(m.Dim); err != nil {
		return fmt.Errorf("method: personalize: %w", err)
	}
	return nil
}

func amhtPersonalizeOptions(m *model.Model, workers int) amht.PersonalizeOptions {
	return amht.PersonalizeOptions{Pursuit: m.Config.Pursuit, Ridge: m.Config.Ridge, Workers: workers}
}

func personalizeAMHT(ctx context.Context, m *model.Model, ds *dataset.Dataset, workers int) ([]model.User, error) {
	return amht.Personalize(ctx, m, ds, amhtPersonalizeOptions(m, workers))
}

func personalizeDense(ctx context.Context, m *model.Model, ds *dataset.Dataset, workers int) ([]model.User, error) {
	return baseline.PersonalizeDense(ctx, m, ds, workers)
}

func personalizeLogistic(ctx context.Context, m *model.Model, ds *dataset.Dataset, workers int) ([]model.User, error) {
	return logistic.Personalize(ctx, m, ds, logistic.PersonalizeOptions{Workers: workers})
}

func personalizeNeural(ctx context.Context, m *model.Model, ds *dataset.Dataset, workers int) ([]model.User, error) {
	o, err := neural.ModelOptions(m)
	if err != nil {
		return nil, err
	}
	o.Workers = workers
	return neural.Personalize(ctx, m, ds, o)
}

// SampleError reports samples that cannot be fitted (too many, wrongly
// sized, or making the fit fail); a server answers it as a bad request.
type SampleError struct{ Err error }

// Error returns the underlying error's message.
func (e *SampleError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *SampleError) Unwrap() error { return e.Err }

// Fitter fits one user at a time against a fixed model, as Personalize
// does, for servers that personalize a user per request. It reuses its
// buffers across calls and is not safe for concurrent use: use one per
// goroutine.
type Fitter struct {
	m     *model.Model
	spec  Spec
	lrs   *amht.Personalizer // the low-rank + sparse methods' fast path
	names []string           // the data's feature names
	din   int
}

// NewFitter returns a Fitter for users of m with up to maxSamples samples
// each. It fails, saying why, for a model that cannot be personalized: a
// global model, or a configuration its personalizer rejects.
func NewFitter(m *model.Model, maxSamples int) (*Fitter, error) {
	s, err := ForModel(m)
	if err != nil {
		return nil, err
	}
	if s.personalize == nil {
		return nil, fmt.Errorf("method: a %q model has no personal parameters to fit", s.Name)
	}
	if maxSamples <= 0 {
		return nil, fmt.Errorf("method: maxSamples %d must be positive", maxSamples)
	}
	f := &Fitter{m: m, spec: s, names: m.Features}
	if m.Network != nil {
		f.names = m.Network.Inputs
	}
	f.din = len(f.names)
	if err := m.Config.Validate(m.Dim); err != nil {
		return nil, fmt.Errorf("method: %w", err)
	}
	if s.Loss == model.LossSquared && !s.Network && (s.Name == model.MethodLRS || s.Name == model.MethodLowRank || s.Name == model.MethodGlobalSparse) {
		if f.lrs, err = amht.NewPersonalizer(m, maxSamples, amhtPersonalizeOptions(m, 1)); err != nil {
			return nil, err
		}
		return f, nil
	}
	// Surface configuration errors now rather than at the first request.
	if _, err := s.personalize(context.Background(), m, dataset.NewBuilder(f.names, true).Dataset(), 1); err != nil {
		return nil, err
	}
	return f, nil
}

// Fit returns the parameters of the user id with samples x (row-major,
// len(y) rows of the data's dimension) and targets y. Errors that concern
// the samples are *SampleError.
func (f *Fitter) Fit(ctx context.Context, id string, x, y []float64) (model.User, error) {
	if f.lrs != nil {
		u, _, err := f.lrs.Fit(id, x, y)
		if err != nil {
			return model.User{}, &SampleError{err}
		}
		return u, nil
	}
	if len(x) != len(y)*f.din {
		return model.User{}, &SampleError{fmt.Errorf("method: %d feature values for %d samples of dimension %d", len(x), len(y), f.din)}
	}
	b := dataset.NewBuilder(f.names, true)
	for i := range y {
		b.Add(id, x[i*f.din:(i+1)*f.din], y[i], i)
	}
	users, err := f.spec.personalize(ctx, f.m, b.Dataset(), 1)
	switch {
	case err != nil && ctx.Err() == nil && f.spec.Network:
		// The network personalizer's errors concern the samples.
		return model.User{}, &SampleError{err}
	case err != nil:
		return model.User{}, err
	case len(users) != 1:
		return model.User{}, fmt.Errorf("method: personalizer returned %d users for one", len(users))
	}
	return users[0], nil
}

// Predict returns the prediction for every sample of ds, in order (a
// probability for a logistic model), as eval.Predict; unknown says what to
// do for users m does not know.
func Predict(m *model.Model, ds *dataset.Dataset, unknown eval.Unknown) ([]float64, error) {
	if _, err := ForModel(m); err != nil {
		return nil, err
	}
	return eval.Predict(m, ds, unknown)
}
