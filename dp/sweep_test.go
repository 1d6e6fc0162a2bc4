package dp

import (
	"bytes"
	"context"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/lrsp/lrsp/amht"
	"github.com/lrsp/lrsp/dataset"
	"github.com/lrsp/lrsp/eval"
	"github.com/lrsp/lrsp/internal/atomicfile"
	"github.com/lrsp/lrsp/synth"
)

// sweepEpsilons are the privacy levels of the utility sweep; +Inf is the
// same algorithm without noise.
var sweepEpsilons = []float64{0.5, 1, 2, 4, 8, math.Inf(1)}

// sweepSetting is one data set of the sweep.
type sweepSetting struct {
	name        string
	train, test *dataset.Dataset
	rank, k     int
	delta       float64
}

// sweepRow is one line of the result table.
type sweepRow struct {
	method string
	rmse   []float64 // per epsilon, or one value for a non-private run
}

// TestUtilitySweep is the reproducible driver of the utility-against-privacy
// results in docs/results.md. It runs only with LRSP_DP_SWEEP=1 and writes
// a Markdown table and a PNG per data set into LRSP_DP_SWEEP_OUT (default
// ../docs/dp). LRSP_DP_SWEEP_SETS picks the data sets (default
// "computer-survey,synthetic"), LRSP_DP_SWEEP_RANDOM_INIT=1 adds the
// random-initialisation series:
//
//	LRSP_DP_SWEEP=1 go test ./dp/ -run TestUtilitySweep -v -timeout 3h
func TestUtilitySweep(t *testing.T) {
	if os.Getenv("LRSP_DP_SWEEP") == "" {
		t.Skip("set LRSP_DP_SWEEP=1 to run the utility sweep (tens of minutes)")
	}
	out := os.Getenv("LRSP_DP_SWEEP_OUT")
	if out == "" {
		out = filepath.Join("..", "docs", "dp")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	sets := os.Getenv("LRSP_DP_SWEEP_SETS")
	if sets == "" {
		sets = "computer-survey,synthetic"
	}
	var settings []sweepSetting
	for _, name := range strings.Split(sets, ",") {
		switch name {
		case "synthetic":
			data, err := synth.Generate(synth.Options{Users: 10000, Samples: 30, Dim: 50, Rank: 3, Sparsity: 3, Noise: 0.1, TestSamples: 10, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			settings = append(settings, sweepSetting{name: name, train: data.Train, test: data.Test, rank: 3, k: 3, delta: 1e-5})
		case "computer-survey":
			lenk := "/work/shared/data/computer-survey-lenk/lenk.csv"
			if p := os.Getenv("LRSP_DP_LENK"); p != "" {
				lenk = p
			}
			train, test, err := readLenk(lenk)
			if err != nil {
				t.Fatalf("computer survey: %v", err)
			}
			settings = append(settings, sweepSetting{name: name, train: train, test: test, rank: 2, k: 2, delta: 1e-4})
		default:
			t.Fatalf("LRSP_DP_SWEEP_SETS: unknown set %q", name)
		}
	}
	var md bytes.Buffer
	for _, s := range settings {
		rows := runSweep(t, s)
		writeTable(&md, s, rows)
		if err := plotSweep(filepath.Join(out, "utility-"+s.name+".png"), s, rows); err != nil {
			t.Fatal(err)
		}
	}
	t.Log("\n" + md.String())
	if err := atomicfile.Write(filepath.Join(out, "utility-"+strings.ReplaceAll(sets, ",", "-")+".md"), func(w io.Writer) error {
		_, err := w.Write(md.Bytes())
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// readLenk reads the computer survey and splits it by its split column.
func readLenk(path string) (train, test *dataset.Dataset, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	header := strings.Split(lines[0], ",")
	col := -1
	for j, h := range header {
		if h == "split" {
			col = j
		}
	}
	if col < 0 {
		return nil, nil, fmt.Errorf("%s: no split column", path)
	}
	parts := map[string]*bytes.Buffer{"train": {}, "test": {}}
	for _, p := range parts {
		p.WriteString(lines[0] + "\n")
	}
	for n, l := range lines[1:] {
		f := strings.Split(l, ",")
		p, ok := parts[f[col]]
		if !ok || len(f) != len(header) {
			return nil, nil, fmt.Errorf("%s:%d: bad split value or field count", path, n+2)
		}
		p.WriteString(l + "\n")
	}
	opt := dataset.CSVOptions{UserColumn: "user", TargetColumn: "rating", Ignore: []string{"split", "profile_id"}, RequireTarget: true}
	if train, err = dataset.ReadCSV(context.Background(), parts["train"], path+" (train)", opt); err != nil {
		return nil, nil, err
	}
	if test, err = dataset.ReadCSV(context.Background(), parts["test"], path+" (test)", opt); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// runSweep trains every method of the sweep on one setting.
func runSweep(t *testing.T, s sweepSetting) []sweepRow {
	ctx := context.Background()
	rmse := func(pred []float64, err error) float64 {
		if err != nil {
			t.Fatal(err)
		}
		sc, err := eval.Score(s.test, pred)
		if err != nil {
			t.Fatal(err)
		}
		return sc.RMSE
	}
	var rows []sweepRow
	for _, k := range []int{s.k, 0} {
		start := time.Now()
		res, err := amht.Train(ctx, s.train, nil, amht.Options{Rank: s.rank, Sparsity: k, Rounds: 30, Tolerance: 1e-6, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("non-private AMHT, r=%d k=%d", s.rank, k)
		rows = append(rows, sweepRow{method: name, rmse: []float64{rmse(eval.Predict(res.Model, s.test, eval.UnknownError))}})
		t.Logf("%s %s: %.4f (%.0fs)", s.name, name, rows[len(rows)-1].rmse[0], time.Since(start).Seconds())
	}
	variants := []struct {
		k    int
		init Init
	}{{s.k, InitPrivate}, {0, InitPrivate}}
	if os.Getenv("LRSP_DP_SWEEP_RANDOM_INIT") != "" {
		variants = append(variants, struct {
			k    int
			init Init
		}{s.k, InitRandom})
	}
	for _, c := range variants {
		name := fmt.Sprintf("DP, r=%d k=%d, init %v", s.rank, c.k, c.init)
		row := sweepRow{method: name}
		for _, eps := range sweepEpsilons {
			start := time.Now()
			opt := Options{Rank: s.rank, Sparsity: c.k, Init: c.init, Delta: s.delta, Seed: 1, NoiseSeed: 1}
			if math.IsInf(eps, 1) {
				opt.Noiseless, opt.Delta = true, 0
			} else {
				var err error
				if opt.NoiseMultiplier, err = Calibrate(eps, s.delta, opt); err != nil {
					t.Fatal(err)
				}
			}
			res, err := Train(ctx, s.train, opt)
			if err != nil {
				t.Fatal(err)
			}
			row.rmse = append(row.rmse, rmse(eval.Predict(res.Model, s.test, eval.UnknownError)))
			t.Logf("%s %s eps %g (sigma %.3g): %.4f (%.0fs)", s.name, name, eps, opt.NoiseMultiplier, row.rmse[len(row.rmse)-1], time.Since(start).Seconds())
		}
		rows = append(rows, row)
	}
	return rows
}

// writeTable writes one setting's results as Markdown.
func writeTable(w io.Writer, s sweepSetting, rows []sweepRow) {
	fmt.Fprintf(w, "%s: %d users, %d training and %d test samples, d = %d, delta = %g; test RMSE\n\n",
		s.name, len(s.train.Users), s.train.Samples(), s.test.Samples(), s.train.Dim(), s.delta)
	fmt.Fprint(w, "| method |")
	for _, e := range sweepEpsilons {
		fmt.Fprintf(w, " eps %g |", e)
	}
	fmt.Fprint(w, "\n| --- |")
	for range sweepEpsilons {
		fmt.Fprint(w, " --- |")
	}
	fmt.Fprintln(w)
	for _, r := range rows {
		fmt.Fprintf(w, "| %s |", r.method)
		for j := range sweepEpsilons {
			v := r.rmse[0]
			if len(r.rmse) > 1 {
				v = r.rmse[j]
			}
			fmt.Fprintf(w, " %.4f |", v)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

// plotSweep plots test RMSE against epsilon, with epsilon = infinity drawn
// at 16 on the log axis and the non-private runs as horizontal lines.
func plotSweep(path string, s sweepSetting, rows []sweepRow) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("DP billboard LRS, %s (delta %g)", s.name, s.delta)
	p.X.Label.Text = "epsilon (rightmost point: no noise)"
	p.Y.Label.Text = "test RMSE"
	p.X.Scale = plot.LogScale{}
	xs := []float64{0.5, 1, 2, 4, 8, 16}
	ticks := plot.ConstantTicks{}
	for j, x := range xs {
		label := fmt.Sprint(sweepEpsilons[j])
		if j == len(xs)-1 {
			label = "inf"
		}
		ticks = append(ticks, plot.Tick{Value: x, Label: label})
	}
	p.X.Tick.Marker = ticks
	p.Add(plotter.NewGrid())
	colors := []color.Color{color.RGBA{0, 0, 0, 255}, color.RGBA{120, 120, 120, 255}, color.RGBA{200, 30, 30, 255},
		color.RGBA{30, 90, 200, 255}, color.RGBA{30, 150, 60, 255}}
	for i, r := range rows {
		pts := make(plotter.XYs, len(xs))
		for j, x := range xs {
			v := r.rmse[0]
			if len(r.rmse) > 1 {
				v = r.rmse[j]
			}
			pts[j] = plotter.XY{X: x, Y: v}
		}
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		l.Color, sc.Color = colors[i%len(colors)], colors[i%len(colors)]
		if len(r.rmse) == 1 {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			sc.Radius = 0
		}
		p.Add(l, sc)
		p.Legend.Add(r.method, l, sc)
	}
	p.Legend.Top = true
	p.Y.Tick.Marker = labelledTicks{}
	wt, err := p.WriterTo(7*vg.Inch, 4.5*vg.Inch, "png")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := wt.WriteTo(w)
		return err
	})
}

// labelledTicks labels about six evenly spaced values with enough digits
// to tell them apart.
type labelledTicks struct{}

// Ticks returns the ticks for the range [lo, hi].
func (labelledTicks) Ticks(lo, hi float64) []plot.Tick {
	step := math.Pow(10, math.Floor(math.Log10((hi-lo)/5)))
	for (hi-lo)/step > 8 {
		step *= 2
	}
	prec := max(0, int(-math.Floor(math.Log10(step))))
	var ts []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi+1e-12; v += step {
		ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', prec, 64)})
	}
	return ts
}
