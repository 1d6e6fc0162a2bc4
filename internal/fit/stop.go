package fit

import (
	"fmt"
	"math"
	"time"
)

var stops = enum{"stop reason", []string{"rounds", "tolerance", "exact", "early-stopping", "stalled", "closed-form"}}

// StopReason says why a trainer ended. Its text form is "rounds",
// "tolerance", "exact", "early-stopping", "stalled" or "closed-form", the
// same for every trainer.
type StopReason int

const (
	// StopRounds means every allowed round ran.
	StopRounds StopReason = iota
	// StopTolerance means a round improved the training loss by less than
	// the tolerance (in a run without a validation set).
	StopTolerance
	// StopExact means the fit became exact (zero training loss).
	StopExact
	// StopEarly means the validation loss did not improve (by the
	// tolerance) for Patience rounds (early stopping); the best round's
	// parameters are kept.
	StopEarly
	// StopStalled means the shared update found no decrease of the loss.
	StopStalled
	// StopClosedForm means the method has no rounds: its fit is solved
	// directly.
	StopClosedForm
)

// String returns the text form of s.
func (s StopReason) String() string { return stops.name(int(s)) }

// MarshalText returns the text form of s; it fails for an undefined value.
func (s StopReason) MarshalText() ([]byte, error) { return stops.marshal(int(s)) }

// UnmarshalText sets s from its text form.
func (s *StopReason) UnmarshalText(b []byte) error { return stops.unmarshal(b, (*int)(s)) }

// MaxRounds is the largest number of rounds a trainer accepts: far beyond
// any useful run, it catches a mistyped or overflowed count before it
// sizes the per-round statistics.
const MaxRounds = 1_000_000

// Schedule holds the options that decide how long a trainer runs, shared by
// every trainer that can stop early. The zero value of each field is
// documented on Resolve.
type Schedule struct {
	// Rounds bounds the number of rounds; 0 means the trainer's default.
	Rounds int
	// Tolerance stops training without a validation set when a round
	// lowers the training loss by less than this fraction of it; 0 runs
	// every round. With a validation set it is the least relative
	// improvement of the best validation loss that counts as one for
	// Patience (see Monitor).
	Tolerance float64
	// Patience is the number of rounds without validation improvement
	// before early stopping; 0 means the trainer's default. It applies
	// only with a validation set.
	Patience int
}

// Resolve returns s with zero Rounds and Patience replaced by the given
// defaults, after checking it: negative counts, a negative or non-finite
// tolerance, and Rounds above maxRounds are errors (trainers pass
// MaxRounds). Trainers without early stopping pass a zero Tolerance and
// Patience and a patience default of 0. The errors name the option, not
// the package: callers add their prefix.
func (s Schedule) Resolve(rounds, patience, maxRounds int) (Schedule, error) {
	switch {
	case s.Rounds < 0 || s.Rounds > maxRounds:
		return s, fmt.Errorf("rounds %d must be in [0, %d]", s.Rounds, maxRounds)
	case !(s.Tolerance >= 0) || math.IsInf(s.Tolerance, 0):
		return s, fmt.Errorf("tolerance %v must be finite and not negative", s.Tolerance)
	case s.Patience < 0:
		return s, fmt.Errorf("patience %d must not be negative", s.Patience)
	}
	if s.Rounds == 0 {
		s.Rounds = rounds
	}
	if s.Patience == 0 {
		s.Patience = patience
	}
	return s, nil
}

// Monitor decides after every round whether training stops, the same way
// for every trainer that can stop early: at an exact fit; without a
// validation set, when a round lowers the training loss by less than
// Tolerance of itself; with one, after Patience rounds in which the
// validation loss did not improve on the best so far by at least Tolerance
// of it. Tolerance thus never stops a validated run by itself: a round whose
// validation loss rises, or falls by too little, only counts towards
// Patience. The zero value is not usable; see Schedule.Monitor.
type Monitor struct {
	s         Schedule
	validated bool
	prev      float64
	// best is the lowest validation loss so far, of round bestRound;
	// ref is the validation loss of improved, the last round that beat
	// the best before it by at least the tolerance.
	best      float64
	bestRound int
	ref       float64
	improved  int
}

// Monitor returns a Monitor for the resolved schedule s. validated says
// whether the monitored loss is a validation loss: only then does Patience
// apply and does Observe report the best round.
func (s Schedule) Monitor(validated bool) *Monitor {
	return &Monitor{s: s, validated: validated, prev: math.Inf(1), best: math.Inf(1), ref: math.Inf(1)}
}

// Observe records the monitored loss of round (counted from 1) and whether
// the fit is exact. It reports whether this round has the best validation
// loss so far (the caller keeps its parameters), and whether training
// stops after it and why; a round that does not stop reports StopRounds.
func (m *Monitor) Observe(round int, loss float64, exact bool) (best, stop bool, why StopReason) {
	if m.validated {
		if loss < m.best {
			m.best, m.bestRound, best = loss, round, true
		}
		if loss < m.ref && (math.IsInf(m.ref, 1) || m.ref-loss >= m.s.Tolerance*math.Abs(m.ref)) {
			m.ref, m.improved = loss, round
		}
	}
	stop, why = true, StopRounds
	switch {
	case exact:
		why = StopExact
	case m.validated && round-m.improved >= m.s.Patience:
		why = StopEarly
	case !m.validated && m.s.Tolerance > 0 && m.prev-loss < m.s.Tolerance*math.Abs(m.prev):
		why = StopTolerance
	default:
		stop = false
	}
	m.prev = loss
	return best, stop, why
}

// Record appends st, timed from start, to rounds, reports it to progress
// when progress is not nil, and returns the longer slice.
func Record(rounds []RoundStats, st RoundStats, start time.Time, progress func(RoundStats)) []RoundStats {
	st.Seconds = time.Since(start).Seconds()
	if progress != nil {
		progress(st)
	}
	return append(rounds, st)
}
