package amhtbeam

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local" // local paths for the statistics and user shards
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/pack"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*Record)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*Fit)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*State)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*PackRange)(nil)).Elem())
	register.DoFn2x1[Record, func([]float64), error](&statsFn{})
	register.DoFn4x1[Record, State, func([]float64), func(Fit), error](&roundFn{})
	register.DoFn3x1[context.Context, PackRange, func(Record), error](&packReadFn{})
	register.DoFn2x1[Fit, func(int, string), error](&shardKeyFn{})
	register.DoFn3x1[context.Context, int, func(*string) bool, error](&writeShardFn{})
	register.DoFn2x1[context.Context, []float64, error](&writeSumFn{})
	register.Combiner1[[]float64](&sumFn{})
	register.Combiner1[[]float64](&noisySumFn{})
	register.Emitter1[[]float64]()
	register.Emitter1[Fit]()
	register.Emitter1[Record]()
	register.Emitter2[int, string]()
	register.Iter1[string]()
}

// Pipeline is the Engine that runs every pass as an Apache Beam pipeline.
// The process must have called beam.Init (after flag.Parse) before the
// first pass: on distributed runners the same binary also runs as the
// worker.
type Pipeline struct {
	// Runner names the Beam runner: "prism" (the default, in-process),
	// "flink", "spark", "dataflow" or "universal". Runner-specific settings
	// (job endpoint, project, region, staging location...) come from Beam's
	// own command-line flags.
	Runner string
	// Records, when PackPath is empty, are the users: they are embedded in
	// every pipeline with beam.CreateList, which suits data that fit the
	// driver's memory (and the runner's limit on pipeline size).
	Records []Record
	// PackPath, when set, is a packed data file (package pack) with
	// PackUsers users, read by the workers in ranges of RangeUsers users;
	// every worker must be able to open it at this path.
	PackPath   string
	PackUsers  int
	RangeUsers int
	// TempDir receives the small files of combined vectors that the driver
	// reads back; on a distributed runner it must be a location that the
	// workers write and the driver reads (gs://... on Dataflow).
	TempDir string
	// UsersPrefix is where the last pass writes the users' fits, as
	// UsersPrefix-SSSSS-of-NNNNN.jsonl (see ReadUserShards).
	UsersPrefix string
	// Shards is the number of per-user output shards; 0 means 4.
	Shards int

	nonce string
}

// RecordsOf reads every user of src into Records for Pipeline.Records.
func RecordsOf(src dataset.Source) ([]Record, error) {
	out := make([]Record, 0, src.NumUsers())
	var sc dataset.Scratch
	err := src.Scan(0, src.NumUsers(), &sc, func(i int, x, y []float64) error {
		out = append(out, Record{ID: src.UserID(i), X: append([]float64(nil), x...), Y: append([]float64(nil), y...)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read users: %w", err)
	}
	return out, nil
}

// Name returns "beam/RUNNER".
func (e *Pipeline) Name() string { return "beam/" + e.runner() }

func (e *Pipeline) runner() string {
	if e.Runner == "" {
		return "prism"
	}
	return e.Runner
}

func (e *Pipeline) shards() int {
	if e.Shards <= 0 {
		return 4
	}
	return e.Shards
}

// Run builds and runs the pipeline of one pass and reads its results.
func (e *Pipeline) Run(ctx context.Context, pass Pass) ([]float64, []Fit, error) {
	if !beam.Initialized() {
		return nil, nil, errors.New("beam: beam.Init() was not called (call it in main after flag.Parse)")
	}
	if e.TempDir == "" {
		return nil, nil, errors.New("beam: no temporary directory for the combined statistics")
	}
	cfg := pass.Config
	if cfg.WriteFit && e.UsersPrefix == "" {
		return nil, nil, errors.New("beam: no output prefix for the users' parameters")
	}
	if e.nonce == "" {
		var b [6]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, nil, fmt.Errorf("beam: %w", err)
		}
		e.nonce = hex.EncodeToString(b[:])
	}
	sumPath := fmt.Sprintf("%s/lrsp-beam-%s-pass-%03d.sum", strings.TrimSuffix(e.TempDir, "/"), e.nonce, pass.Round)
	if cfg.WriteFit {
		if err := removeShards(ctx, e.UsersPrefix); err != nil {
			return nil, nil, err
		}
	}

	p, s := beam.NewPipelineWithRoot()
	users, err := e.users(s)
	if err != nil {
		return nil, nil, err
	}
	var contrib beam.PCollection
	if cfg.Kind == passStats {
		contrib = beam.ParDo(s, &statsFn{Cfg: cfg}, users)
	} else {
		state := beam.Create(s, pass.State)
		var fits beam.PCollection
		contrib, fits = beam.ParDo2(s, &roundFn{Cfg: cfg}, users, beam.SideInput{Input: state})
		if cfg.WriteFit {
			keyed := beam.ParDo(s, &shardKeyFn{Shards: e.shards()}, fits)
			beam.ParDo0(s, &writeShardFn{Prefix: e.UsersPrefix, Shards: e.shards()}, beam.GroupByKey(s, keyed))
		}
	}
	var total beam.PCollection
	if cfg.Private {
		// The noise is added inside the combine, so the only sum that
		// leaves it, and the only one written to TempDir, is the noisy one.
		total = beam.Combine(s, &noisySumFn{Pass: Pass{Round: pass.Round, Config: cfg}}, contrib)
	} else {
		total = beam.Combine(s, &sumFn{}, contrib)
	}
	beam.ParDo0(s, &writeSumFn{Path: sumPath}, total)

	if _, err := beam.Run(ctx, e.runner(), p); err != nil {
		return nil, nil, fmt.Errorf("beam: run on %s: %w", e.runner(), err)
	}
	sum, err := readSum(ctx, sumPath, cfg.size())
	if err != nil {
		return nil, nil, err
	}
	removeFile(ctx, sumPath)
	if !cfg.WriteFit {
		return sum, nil, nil
	}
	fits, err := ReadUserShards(ctx, e.UsersPrefix)
	if err != nil {
		return nil, nil, err
	}
	return sum, fits, nil
}

// users returns the PCollection of the users' records.
func (e *Pipeline) users(s beam.Scope) (beam.PCollection, error) {
	if e.PackPath == "" {
		if len(e.Records) == 0 {
			return beam.PCollection{}, errors.New("beam: no users")
		}
		return beam.CreateList(s, e.Records), nil
	}
	n := e.RangeUsers
	if n <= 0 {
		n = 1024
	}
	var ranges []PackRange
	for lo := 0; lo < e.PackUsers; lo += n {
		ranges = append(ranges, PackRange{Lo: lo, Hi: min(lo+n, e.PackUsers)})
	}
	if len(ranges) == 0 {
		return beam.PCollection{}, errors.New("beam: no users")
	}
	rs := beam.Reshuffle(s, beam.CreateList(s, ranges))
	return beam.ParDo(s, &packReadFn{Path: e.PackPath}, rs), nil
}

// PackRange is a range [Lo, Hi) of users of a packed file.
type PackRange struct {
	Lo, Hi int
}

// packReadFn reads the users of a range of a packed file.
type packReadFn struct {
	Path string
}

func (f *packReadFn) ProcessElement(ctx context.Context, rg PackRange, emit func(Record)) error {
	pf, err := pack.Open(f.Path)
	if err != nil {
		return err
	}
	defer pf.Close()
	if rg.Lo < 0 || rg.Hi > pf.NumUsers() || rg.Lo > rg.Hi {
		return fmt.Errorf("%s: user range [%d, %d) outside [0, %d)", f.Path, rg.Lo, rg.Hi, pf.NumUsers())
	}
	var sc dataset.Scratch
	return pf.Scan(rg.Lo, rg.Hi, &sc, func(i int, x, y []float64) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		emit(Record{ID: pf.UserID(i), X: append([]float64(nil), x...), Y: append([]float64(nil), y...)})
		return nil
	})
}

// statsFn emits each user's statistics contribution.
type statsFn struct {
	Cfg StepConfig
	s   *stepper
}

func (f *statsFn) ProcessElement(rec Record, emit func([]float64)) error {
	if f.s == nil {
		f.s = newStepper(f.Cfg, nil)
	}
	out := make([]float64, f.Cfg.size())
	if err := f.s.stats(&rec, out); err != nil {
		return err
	}
	emit(out)
	return nil
}

// roundFn fits each user against the side input's U and emits its
// contribution and, when Cfg.WriteFit, its fit.
type roundFn struct {
	Cfg StepConfig
	s   *stepper
}

func (f *roundFn) ProcessElement(rec Record, st State, emitSum func([]float64), emitFit func(Fit)) error {
	if len(st.U) != f.Cfg.D*f.Cfg.R {
		return fmt.Errorf("side input U has %d entries, want %d", len(st.U), f.Cfg.D*f.Cfg.R)
	}
	if f.s == nil {
		f.s = newStepper(f.Cfg, st.U)
	}
	out := make([]float64, f.Cfg.size())
	fit, err := f.s.round(&rec, out)
	if err != nil {
		return err
	}
	emitSum(out)
	if f.Cfg.WriteFit {
		emitFit(fit)
	}
	return nil
}

// sumFn is a CombineFn that sums vectors of equal length.
type sumFn struct{}

func (sumFn) CreateAccumulator() []float64 { return nil }

func (sumFn) AddInput(acc, v []float64) []float64 { return addInto(acc, v) }

func (sumFn) MergeAccumulators(a, b []float64) []float64 { return addInto(a, b) }

func (sumFn) ExtractOutput(acc []float64) []float64 { return acc }

// noisySumFn is the CombineFn of a private pass: it sums like sumFn and
// adds the pass's Gaussian noise to the U-update in ExtractOutput (see
// AddNoise), so that the un-noised sum never leaves the combine. The noise
// of a private pass (NoiseSeed 0) is drawn from crypto/rand by the worker
// that extracts the output; no key is in the pipeline's definition.
type noisySumFn struct {
	Pass Pass
}

func (noisySumFn) CreateAccumulator() []float64 { return nil }

func (noisySumFn) AddInput(acc, v []float64) []float64 { return addInto(acc, v) }

func (noisySumFn) MergeAccumulators(a, b []float64) []float64 { return addInto(a, b) }

func (f *noisySumFn) ExtractOutput(acc []float64) []float64 {
	AddNoise(acc, f.Pass)
	return acc
}

// addInto returns acc + v, reusing acc; a nil or empty acc is replaced by a
// copy of v. Vectors of different lengths are a programming error: their
// sum is marked invalid by a NaN count, which the driver rejects.
func addInto(acc, v []float64) []float64 {
	if len(acc) == 0 {
		return append([]float64(nil), v...)
	}
	if len(v) == 0 {
		return acc
	}
	if len(acc) != len(v) {
		acc[len(acc)-1] = nan()
		return acc
	}
	for j, x := range v {
		acc[j] += x
	}
	return acc
}
