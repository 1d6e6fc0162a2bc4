package experiment

import (
	"encoding/csv"
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/lrsp/lrsp/internal/atomicfile"
)

// table is a CSV table: a header and rows of the same width.
type table struct {
	header []string
	rows   [][]string
}

// add appends a row, formatting each value: floats with %g at full
// precision, everything else with fmt.Sprint.
func (t *table) add(values ...any) {
	row := make([]string, len(values))
	for i, v := range values {
		switch v := v.(type) {
		case float64:
			row[i] = strconv.FormatFloat(v, 'g', -1, 64)
		case string:
			row[i] = v
		default:
			row[i] = fmt.Sprint(v)
		}
	}
	t.rows = append(t.rows, row)
}

// writeCSV writes t to dir/name atomically and returns the path.
func (t *table) writeCSV(dir, name string) (string, error) {
	path := filepath.Join(dir, name)
	err := atomicfile.Write(path, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		if err := cw.Write(t.header); err != nil {
			return err
		}
		if err := cw.WriteAll(t.rows); err != nil {
			return err
		}
		cw.Flush()
		return cw.Error()
	})
	return path, err
}

// Plot sizes in points.
const (
	plotWidth  = 6 * vg.Inch
	plotHeight = 4 * vg.Inch
)

// savePNG renders p as a PNG to dir/name atomically and returns the path.
func savePNG(p *plot.Plot, dir, name string) (string, error) {
	path := filepath.Join(dir, name)
	wt, err := p.WriterTo(plotWidth, plotHeight, "png")
	if err != nil {
		return "", fmt.Errorf("render %s: %w", path, err)
	}
	err = atomicfile.Write(path, func(w io.Writer) error {
		_, err := wt.WriteTo(w)
		return err
	})
	return path, err
}

// grid is a heat-map grid indexed by cell position: column c at x = c, row
// r at y = r, so that unevenly spaced axis values get equal cells; the axis
// ticks carry the real values.
type grid struct {
	z [][]float64 // z[row][col]
}

func (g grid) Dims() (c, r int)   { return len(g.z[0]), len(g.z) }
func (g grid) Z(c, r int) float64 { return g.z[r][c] }
func (g grid) X(c int) float64    { return float64(c) }
func (g grid) Y(r int) float64    { return float64(r) }

// indexTicks labels position i of an index axis with labels[i].
func indexTicks(labels []int) plot.ConstantTicks {
	t := make(plot.ConstantTicks, len(labels))
	for i, v := range labels {
		t[i] = plot.Tick{Value: float64(i), Label: strconv.Itoa(v)}
	}
	return t
}

// heatMap draws z[row][col] in [0, 1] with the given axis values, writing
// each cell's value in it.
func heatMap(title, xlabel, ylabel string, xs, ys []int, z [][]float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	cm := moreland.SmoothBlueRed()
	cm.SetMin(0)
	cm.SetMax(1)
	h := plotter.NewHeatMap(grid{z: z}, cm.Palette(101))
	h.Min, h.Max = 0, 1
	h.NaN = color.Gray{Y: 200}
	p.Add(h)
	var xys plotter.XYs
	var text []string
	for r, row := range z {
		for c, v := range row {
			xys = append(xys, plotter.XY{X: float64(c), Y: float64(r)})
			if math.IsNaN(v) {
				text = append(text, "-")
			} else {
				text = append(text, strconv.FormatFloat(v, 'f', 2, 64))
			}
		}
	}
	labels, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: text})
	if err != nil {
		return nil, fmt.Errorf("heat map labels: %w", err)
	}
	for i := range labels.TextStyle {
		labels.TextStyle[i].XAlign = draw.XCenter
		labels.TextStyle[i].YAlign = draw.YCenter
		labels.TextStyle[i].Font.Size = vg.Points(9)
		// The palette is dark at both ends and light in the middle.
		if v := z[int(xys[i].Y)][int(xys[i].X)]; v < 0.2 || v > 0.8 {
			labels.TextStyle[i].Color = color.White
		}
	}
	p.Add(labels)
	p.X.Tick.Marker = indexTicks(xs)
	p.Y.Tick.Marker = indexTicks(ys)
	p.X.Min, p.X.Max = -0.5, float64(len(xs))-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(len(ys))-0.5
	return p, nil
}

// ticks125 marks a log-scale axis at 1, 2 and 5 times the powers of ten
// in its range, labelling each, for ranges too short for plot.LogTicks to
// label more than one power of ten.
type ticks125 struct{}

// Ticks returns the ticks between lo and hi.
func (ticks125) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	if !(lo > 0) || !(hi >= lo) {
		return nil
	}
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, f := range []float64{1, 2, 5} {
			v := f * math.Pow(10, e)
			if v >= lo && v <= hi {
				ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
			}
		}
	}
	return ts
}

// decades marks a log-scale axis at the powers of ten in its range,
// labelled 1e-5 and so on.
type decades struct{}

// Ticks returns the ticks between lo and hi.
func (decades) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi >= lo) {
		return nil
	}
	var ts []plot.Tick
	for e := int(math.Ceil(math.Log10(lo))); e <= int(math.Floor(math.Log10(hi))); e++ {
		label := "1e" + strconv.Itoa(e)
		if e >= 0 && e <= 3 {
			label = strconv.Itoa(int(math.Pow10(e)))
		}
		ts = append(ts, plot.Tick{Value: math.Pow10(e), Label: label})
	}
	return ts
}

// series is one line of a line plot.
type series struct {
	name string
	xys  plotter.XYs
}

// linePlot draws the series with points; logY puts the y axis on a log
// scale (values must then be positive).
func linePlot(title, xlabel, ylabel string, logY bool, ss []series) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.Legend.Top = true
	if logY {
		p.Y.Scale = plot.LogScale{}
		// Decades are too few to label on a short axis: label 1-2-5 there.
		defer func() {
			if p.Y.Max < 1000*p.Y.Min {
				p.Y.Tick.Marker = ticks125{}
			} else {
				p.Y.Tick.Marker = decades{}
			}
		}()
	}
	p.Add(plotter.NewGrid())
	for i, s := range ss {
		l, pts, err := plotter.NewLinePoints(s.xys)
		if err != nil {
			return nil, fmt.Errorf("plot %s: %w", s.name, err)
		}
		l.Color = plotutil.Color(i)
		l.Dashes = plotutil.Dashes(i)
		pts.Color = plotutil.Color(i)
		pts.Shape = plotutil.Shape(i)
		p.Add(l, pts)
		p.Legend.Add(s.name, l, pts)
	}
	return p, nil
}
