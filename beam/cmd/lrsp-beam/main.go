// Command lrsp-beam trains low-rank + sparse personalization models with
// AMHT-LRS rounds run as Apache Beam pipelines (package amhtbeam), on
// Beam's local runner Prism or on a cluster (Flink, Spark, Dataflow).
//
// It is a separate binary, in its own Go module, so that the default lrsp
// binary does not carry the Beam SDK. It writes the lrsp model format:
// lrsp predict, eval, inspect and store import read its models.
//
//	lrsp-beam train --data train.csv --rank 5 --sparsity 5 --out model.lrsp
//	lrsp-beam train --data train.lrspd --rank 5 --sparsity 5 --beam-runner flink --beam-endpoint localhost:8099
//
// Beam's own flags (--environment_type, --project, --region,
// --staging_location, --temp_location, ...) are accepted among the train
// flags; where a Beam flag has the name of an lrsp flag (--update), the
// lrsp flag wins. "lrsp-beam train --help" lists the lrsp flags,
// "--help-beam" Beam's. When a runner starts this binary as a worker, it
// runs the Beam worker harness instead.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/dataflow"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/flink"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/spark"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal"

	"github.com/lrsp/lrsp/beam/amhtbeam"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/dp"
	"github.com/lrsp/lrsp/internal/fit"
	"github.com/lrsp/lrsp/internal/version"
	"github.com/lrsp/lrsp/method"
	"github.com/lrsp/lrsp/model"
	"github.com/lrsp/lrsp/pack"
)

const usage = `lrsp-beam trains lrsp models with AMHT-LRS rounds as Apache Beam pipelines.

Usage:
  lrsp-beam train --data PATH --rank R [flags] [Beam flags]

`

// beamNote ends the help: how Beam's own flags are passed.
const beamNote = `
Beam's own flags (--project, --region, --temp_location, --environment_type, ...)
may be given among these; "lrsp-beam train --help-beam" lists them. Where a
Beam flag has the name of an lrsp flag (--update), the lrsp flag wins.
`

// renamedFlags maps the former names of flags to their names now.
var renamedFlags = map[string]string{"step-size": "dp-step"}

// printUsage writes the help of lrsp-beam train: the usage line and the
// lrsp flags of fs.
func printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, usage, "Flags of lrsp-beam train (named as lrsp train's):\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprint(w, beamNote)
}

// splitArgs separates the arguments of lrsp-beam train into those of the
// lrsp flags of fs (and positional arguments) and those of Beam's flags
// (any flag fs does not define), so that each flag set is parsed on its
// own and an lrsp flag is never taken for a Beam flag of the same name. A
// flag given by a former name (see renamedFlags) is renamed, with a
// notice on warn. isBool reports whether a Beam flag takes no value.
func splitArgs(fs *flag.FlagSet, args []string, isBool func(name string) bool, warn io.Writer) (lrsp, beam []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			lrsp = append(lrsp, args[i:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			lrsp = append(lrsp, a)
			continue
		}
		dashes := "-"
		if strings.HasPrefix(a, "--") {
			dashes = "--"
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(a, dashes), "=")
		if to, ok := renamedFlags[name]; ok {
			fmt.Fprintf(warn, "lrsp-beam: --%s is now --%s; the old name will be removed\n", name, to)
			name = to
			a = dashes + name
			if hasValue {
				a += "=" + value
			}
		}
		target, boolFlag := &beam, isBool(name)
		if f := fs.Lookup(name); f != nil || name == "h" || name == "help" {
			target, boolFlag = &lrsp, f == nil || isBoolValue(f.Value)
		}
		*target = append(*target, a)
		if !hasValue && !boolFlag && i+1 < len(args) {
			i++
			*target = append(*target, args[i])
		}
	}
	return lrsp, beam
}

// isBoolValue reports whether a flag value takes no argument.
func isBoolValue(v flag.Value) bool {
	b, ok := v.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// trainFlags holds the flags of "lrsp-beam train"; the names mirror
// "lrsp train".
type trainFlags struct {
	data, out, init, pursuit string
	userCol, targetCol       string
	features, ignore         string
	engine, runner, endpoint string
	tempDir, usersOut        string
	shards, rangeUsers       int
	cfg                      method.Config
	stepSize                 float64
	dpNoise, dpClip, dpDelta float64
	dpNoiseless              bool
	dpLargeDelta             bool
	dpNoiseSeed              uint64
	dpNoiseKind              string
	update                   string
	verbose, helpBeam        bool
	// args are the positional arguments, which are errors.
	args []string
}

func (f *trainFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.data, "data", "", "training data: CSV file, Parquet file or directory, or packed .lrspd file (required)")
	fs.StringVar(&f.out, "out", "model.lrsp", "model file to write")
	fs.IntVar(&f.cfg.Rank, "rank", 0, "rank r of the shared basis U (required)")
	fs.IntVar(&f.cfg.Sparsity, "sparsity", 0, "non-zeros k of each user's sparse part (0: low rank only)")
	fs.IntVar(&f.cfg.Rounds, "rounds", 50, "maximum number of rounds (one Beam pipeline each)")
	fs.Float64Var(&f.cfg.Tolerance, "tolerance", 1e-6, "stop when a round improves the training loss by less than this fraction (0 runs all rounds)")
	fs.Uint64Var(&f.cfg.Seed, "seed", 1, "random seed")
	fs.StringVar(&f.init, "init", "moments", "initialisation of U: moments or random")
	fs.StringVar(&f.pursuit, "pursuit", "swap", "support search for b: "+strings.Join(fit.Pursuits(), ", ")+"")
	fs.Float64Var(&f.cfg.Ridge, "ridge", 0, "per-user ridge penalty")
	fs.Float64Var(&f.stepSize, "dp-step", 1, "step size of the U update, with or without privacy (as lrsp train's --dp-step; formerly --step-size)")
	fs.StringVar(&f.update, "update", "gradient", "U update: gradient, the only one lrsp-beam runs (lrsp train's cg is not available)")
	fs.BoolVar(&f.helpBeam, "help-beam", false, "list Beam's own flags and exit")
	fs.StringVar(&f.userCol, "user-column", "user", "name of the user column")
	fs.StringVar(&f.targetCol, "target-column", "y", "name of the target column")
	fs.StringVar(&f.features, "features", "", "comma-separated feature columns in order (default: every other column)")
	fs.StringVar(&f.ignore, "ignore", "", "comma-separated columns to leave out when --features is not given")
	fs.StringVar(&f.engine, "engine", "beam", "beam, or in-process (the same rounds in a plain loop, for comparison)")
	fs.StringVar(&f.runner, "beam-runner", "prism", "Beam runner: prism (local, in-process), flink, spark, dataflow or universal")
	fs.StringVar(&f.endpoint, "beam-endpoint", "", "job service endpoint (host:port) of a flink, spark or universal runner")
	fs.StringVar(&f.tempDir, "beam-temp", "", "directory for the combined statistics that workers write and the driver reads (default: a local temporary directory; gs://... on Dataflow)")
	fs.StringVar(&f.usersOut, "users-out", "", "prefix of the sharded per-user output, PREFIX-SSSSS-of-NNNNN.jsonl (default: OUT.users/part)")
	fs.BoolVar(&f.verbose, "beam-verbose", false, "show the runner's informational log (Prism logs every job)")
	fs.IntVar(&f.shards, "shards", 4, "number of per-user output shards")
	fs.IntVar(&f.rangeUsers, "range-users", 1024, "users per work item when reading a packed file")
	fs.Float64Var(&f.dpNoise, "dp-noise-multiplier", 0, "train with user-level differential privacy at this noise multiplier (0: no privacy)")
	fs.Float64Var(&f.dpClip, "dp-clip", 1, "clip norm of each user's contribution (with privacy)")
	fs.Float64Var(&f.dpDelta, "dp-delta", 1e-6, "delta of the reported guarantee (with privacy), below 1/users")
	fs.BoolVar(&f.dpLargeDelta, "dp-allow-large-delta", false, "accept a --dp-delta of 1/users or more, which is otherwise refused")
	fs.BoolVar(&f.dpNoiseless, "dp-noiseless", false, "run the private algorithm without noise and without a guarantee")
	fs.StringVar(&f.dpNoiseKind, "dp-noise", dp.NoiseDiscrete.String(), "noise sampler (with privacy): discrete (exact discrete Gaussian on a fine grid) or continuous (floating point, for comparison)")
	fs.Uint64Var(&f.dpNoiseSeed, "dp-noise-seed", 0, "seed of the noise, for reproducible experiments only: the model is then not private (0: from crypto/rand)")
}

func main() {
	var f trainFlags
	fs := flag.NewFlagSet("lrsp-beam train", flag.ContinueOnError)
	f.register(fs)
	fs.Usage = func() { printUsage(os.Stderr, fs) }
	train := len(os.Args) > 1 && os.Args[1] == "train"
	if train {
		isBool := func(name string) bool {
			f := flag.CommandLine.Lookup(name)
			return f != nil && isBoolValue(f.Value)
		}
		mine, beamArgs := splitArgs(fs, os.Args[2:], isBool, os.Stderr)
		if err := fs.Parse(mine); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				os.Exit(0)
			}
			os.Exit(2)
		}
		f.args = fs.Args()
		if f.helpBeam {
			flag.CommandLine.SetOutput(os.Stdout)
			fmt.Println("Beam's own flags, accepted by lrsp-beam train:")
			flag.CommandLine.PrintDefaults()
			os.Exit(0)
		}
		flag.CommandLine.Init("lrsp-beam train", flag.ContinueOnError)
		flag.CommandLine.Usage = func() {
			fmt.Fprintln(os.Stderr, `run "lrsp-beam train --help" for lrsp's flags, "lrsp-beam train --help-beam" for Beam's`)
		}
		if err := flag.CommandLine.Parse(beamArgs); err != nil {
			os.Exit(2)
		}
		f.args = append(f.args, flag.Args()...)
	} else {
		if len(os.Args) > 1 && (os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "-help" || os.Args[1] == "help") {
			printUsage(os.Stdout, fs)
			os.Exit(0)
		}
		flag.Parse()
	}
	// On a worker started by a runner, Init runs the Beam harness and exits.
	beam.Init()
	if !train {
		printUsage(os.Stderr, fs)
		os.Exit(2)
	}
	if !f.verbose {
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, &f, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "lrsp-beam train:", err)
		os.Exit(1)
	}
}

// run trains and writes the model.
func run(ctx context.Context, f *trainFlags, stderr io.Writer) error {
	if len(f.args) > 0 {
		return fmt.Errorf("unexpected arguments %q", f.args)
	}
	if f.update != "gradient" {
		return fmt.Errorf("--update %q: lrsp-beam runs the gradient update of U only (lrsp train has cg)", f.update)
	}
	if f.data == "" {
		return errors.New("--data is required")
	}
	if f.cfg.Rounds < 1 {
		return fmt.Errorf("--rounds %d must be at least 1", f.cfg.Rounds)
	}
	if f.shards < 1 || f.shards > 99999 {
		return fmt.Errorf("--shards %d must be in [1, 99999]", f.shards)
	}
	if f.rangeUsers < 1 {
		return fmt.Errorf("--range-users %d must be positive", f.rangeUsers)
	}
	// The configuration is a method.Config, validated by package method
	// once the data's dimension is known.
	cfg := f.cfg
	cfg.Version, cfg.Method, cfg.Update = model.ConfigVersion, model.MethodLRS, "gradient"
	if cfg.Sparsity == 0 {
		cfg.Method = model.MethodLowRank
	}
	if f.init != "moments" && f.init != "random" {
		return fmt.Errorf("--init %q: want moments or random", f.init)
	}
	cfg.Init = f.init
	if err := cfg.Pursuit.UnmarshalText([]byte(f.pursuit)); err != nil {
		return fmt.Errorf("--pursuit: %w", err)
	}
	if f.dpNoise != 0 || f.dpNoiseless {
		cfg.Tolerance, cfg.Update, cfg.Init = 0, "", ""
		cfg.DP = &model.DPConfig{Clip: f.dpClip, StepSize: f.stepSize, SampleRate: 1, NoiseMultiplier: f.dpNoise,
			Noiseless: f.dpNoiseless, Delta: f.dpDelta, Init: "random", Noise: f.dpNoiseKind}
	}
	progress := func(st amhtbeam.RoundStats) {
		loss := ""
		if !math.IsNaN(st.TrainLoss) {
			loss = fmt.Sprintf(", train MSE %.6g", st.TrainLoss)
		}
		fmt.Fprintf(stderr, "pass %d: %d users%s, %.2f s\n", st.Round, st.Users, loss, st.Seconds)
	}
	if f.endpoint != "" {
		if err := flag.Set("endpoint", f.endpoint); err != nil {
			return fmt.Errorf("--beam-endpoint: %w", err)
		}
	}

	src, closeSrc, err := openData(ctx, f)
	if err != nil {
		return err
	}
	defer closeSrc()
	info := amhtbeam.Info(src)
	if !src.HasTargets() {
		return fmt.Errorf("%s: no target column %q", f.data, f.targetCol)
	}
	opt, err := amhtbeam.FromConfig(cfg, info.Dim)
	if err != nil {
		return err
	}
	opt.StepSize, opt.Progress = f.stepSize, progress
	if opt.Privacy != nil {
		opt.Privacy.NoiseSeed, opt.Privacy.AllowLargeDelta = f.dpNoiseSeed, f.dpLargeDelta
		if !opt.Privacy.Noiseless {
			if err := dp.CheckDelta(f.dpDelta, info.Users, f.dpLargeDelta); err != nil {
				return fmt.Errorf("--dp-delta: %w; --dp-allow-large-delta overrides", err)
			}
		}
	}

	var engine amhtbeam.Engine
	switch f.engine {
	case "in-process":
		engine = &amhtbeam.InProcess{Source: src}
	case "beam":
		p := &amhtbeam.Pipeline{Runner: f.runner, TempDir: f.tempDir, UsersPrefix: f.usersOut, Shards: f.shards}
		if p.UsersPrefix == "" {
			dir := f.out + ".users"
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			p.UsersPrefix = filepath.Join(dir, "part")
		}
		if p.TempDir == "" {
			dir, err := os.MkdirTemp("", "lrsp-beam-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			p.TempDir = dir
		}
		if pf, ok := src.(*pack.File); ok {
			abs, err := filepath.Abs(f.data)
			if err != nil {
				return err
			}
			p.PackPath, p.PackUsers, p.RangeUsers = abs, pf.NumUsers(), f.rangeUsers
		} else if p.Records, err = amhtbeam.RecordsOf(src); err != nil {
			return err
		}
		engine = p
	default:
		return fmt.Errorf("--engine %q: want beam or in-process", f.engine)
	}
	res, err := amhtbeam.Train(ctx, engine, info, opt)
	if err != nil {
		return err
	}
	res.Model.Config.Software = version.Read().String()
	if err := model.Save(f.out, res.Model); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s: %s, %d users, %d passes on %s, stopped: %s\n",
		f.out, res.Model.Method, len(res.Model.Users), len(res.Rounds), engine.Name(), res.Stopped)
	if p := res.Model.Privacy; p != nil {
		fmt.Fprintf(stderr, "privacy of U: (%.4g, %g)-DP (%s)\n", p.Epsilon, p.Delta, p.Accountant)
	} else if why := res.Model.Config.NotPrivate(); why != "" {
		fmt.Fprintf(stderr, "privacy of U: NOT PRIVATE: %s\n", why)
	}
	return nil
}

// openData opens the training data: a packed file stays on disk (workers
// read it in ranges), CSV and Parquet are read into memory.
func openData(ctx context.Context, f *trainFlags) (dataset.Source, func(), error) {
	if pack.IsPath(f.data) {
		pf, err := pack.Open(f.data)
		if err != nil {
			return nil, nil, err
		}
		return pf, func() { pf.Close() }, nil
	}
	opt := dataset.CSVOptions{UserColumn: f.userCol, TargetColumn: f.targetCol, Features: split(f.features),
		Ignore: split(f.ignore), RequireTarget: true}
	var ds *dataset.Dataset
	var err error
	if dataset.IsParquetPath(f.data) {
		ds, err = dataset.ReadParquetFile(ctx, f.data, opt)
	} else {
		ds, err = dataset.ReadCSVFile(ctx, f.data, opt)
	}
	if err != nil {
		return nil, nil, err
	}
	return ds, func() {}, nil
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
