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
	// StopTolerance means a round improved the monitored loss by less than
	// the tolerance.
	StopTolerance
	// StopExact means the fit became exact (zero training loss).
	StopExact
	// StopEarly means the validation loss did not improve for Patience
	// rounds (early stopping); the best round's parameters are kept.
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
	// Tolerance stops training when a round lowers the monitored loss (the
	// validation loss with a validation set, else the training loss) by
	// less than this fraction; 0 runs every round.
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
// for every trainer that can stop early: at an exact fit, after Patience
// rounds without a better validation loss, or when a round lowers the
// monitored loss by less than Tolerance of itself. The zero value is not
// usable; see Schedule.Monitor.
type Monitor struct {
	s         Schedule
	validated bool
	prev      float64
	best      float64
	bestRound int
}

// Monitor returns a Monitor for the resolved schedule s. validated says
// whether the monitored loss is a validation loss: only then does Patience
// apply and does Observe report the best round.
func (s Schedule) Monitor(validated bool) *Monitor {
	return &Monitor{s: s, validated: validated, prev: math.Inf(1), best: math.Inf(1)}
}

// Observe records the monitored loss of round (counted from 1) and whether
// the fit is exact. It reports whether this round has the best validation
// loss so far (the caller keeps its parameters), and whether training
// stops after it and why; a round that does not stop reports StopRounds.
func (m *Monitor) Observe(round int, loss float64, exact bool) (best, stop bool, why StopReason) {
	if m.validated && loss < m.best {
		m.best, m.bestRound, best = loss, round, true
	}
	stop, why = true, StopRounds
	switch {
	case exact:
		why = StopExact
	case m.validated && round-m.bestRound >= m.s.Patience:
		why = StopEarly
	case m.s.Tolerance > 0 && m.prev-loss < m.s.Tolerance*math.Abs(m.prev):
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
