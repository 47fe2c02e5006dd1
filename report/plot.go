package report

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"image/color"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/faultline-io/faultline/checker"
	"github.com/faultline-io/faultline/history"
)

// maxPoints caps the points of each scatter series; longer series are
// thinned evenly (fail and info are rarely that many).
const maxPoints = 20000

var (
	typeColors = map[history.Type]color.Color{
		history.OK:   color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
		history.Fail: color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
		history.Info: color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	}
	faultPalette = []color.Color{
		color.NRGBA{R: 0x99, G: 0x99, B: 0x99, A: 0x40},
		color.NRGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0x38},
		color.NRGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0x38},
		color.NRGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0x38},
		color.NRGBA{R: 0xe3, G: 0x77, B: 0xc2, A: 0x38},
		color.NRGBA{R: 0xbc, G: 0xbd, B: 0x22, A: 0x38},
		color.NRGBA{R: 0x17, G: 0xbe, B: 0xcf, A: 0x38},
	}
	anomalyColor = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
)

// plotEnd is the end of the plots' x axis, in seconds of test time: the
// last completion or fault window's end.
func plotEnd(comps []checker.Completion, faults []checker.FaultWindow) float64 {
	var end float64
	for _, c := range comps {
		end = max(end, float64(c.Complete)/1e9)
	}
	for _, f := range faults {
		end = max(end, float64(f.End)/1e9)
	}
	if end == 0 {
		end = 1
	}
	return end
}

// plots renders the latency scatter and the throughput lines as SVG data
// URIs up to end (s), with every fault window shaded and the first
// anomaly marked.
func plots(comps []checker.Completion, faults []checker.FaultWindow, firstAnom *int64, end float64) (lat, rate template.URL, err error) {
	lp, rp := plot.New(), plot.New()
	// Plots draw in the order added: the fault bands go under the data.
	addFaults(lp, faults, end)
	addFaults(rp, faults, end)
	if err := latencyPlot(lp, comps); err != nil {
		return "", "", err
	}
	if err := ratePlot(rp, comps, end); err != nil {
		return "", "", err
	}
	for _, p := range []*plot.Plot{lp, rp} {
		if firstAnom != nil {
			m := vline{x: float64(*firstAnom) / 1e9, color: anomalyColor}
			p.Add(m)
			p.Legend.Add("first anomaly", m)
		}
		p.X.Min, p.X.Max = 0, end
		p.X.Label.Text = "test time (s)"
		p.Legend.Top = true
	}
	if lat, err = svgURI(lp); err != nil {
		return "", "", err
	}
	if rate, err = svgURI(rp); err != nil {
		return "", "", err
	}
	return lat, rate, nil
}

func latencyPlot(p *plot.Plot, comps []checker.Completion) error {
	p.Title.Text = "Latency of each operation, by outcome"
	p.Y.Label.Text = "latency (ms)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	series := map[history.Type]plotter.XYs{}
	for _, c := range comps {
		if !c.Paired {
			continue // no invoke: no latency
		}
		ms := max(float64(c.Complete-c.Invoke)/1e6, 0.01) // a log axis has no 0
		series[c.Type] = append(series[c.Type], plotter.XY{X: float64(c.Invoke) / 1e9, Y: ms})
	}
	empty := true
	for _, t := range []history.Type{history.OK, history.Fail, history.Info} {
		xys := thin(series[t], maxPoints)
		if len(xys) == 0 {
			continue
		}
		empty = false
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return fmt.Errorf("report: latency plot: %w", err)
		}
		s.GlyphStyle.Color = typeColors[t]
		s.GlyphStyle.Radius = vg.Points(1)
		s.GlyphStyle.Shape = draw.CircleGlyph{}
		p.Add(s)
		p.Legend.Add(string(t), s)
	}
	if empty {
		// A log axis needs a positive range even with nothing to show.
		p.Y.Min, p.Y.Max = 0.01, 1000
	}
	// Headroom for the legend, top right.
	_, _, _, ymax := plotter.XYRange(allPoints(series))
	p.Y.Max = max(p.Y.Max, ymax*30)
	return nil
}

func ratePlot(p *plot.Plot, comps []checker.Completion, end float64) error {
	p.Title.Text = "Completed operations per second, by outcome"
	p.Y.Label.Text = "ops/s"
	bins := int(end) + 1
	counts := map[history.Type][]float64{}
	for _, t := range []history.Type{history.OK, history.Fail, history.Info} {
		counts[t] = make([]float64, bins)
	}
	for _, c := range comps {
		if b := int(float64(c.Complete) / 1e9); b >= 0 && b < bins && counts[c.Type] != nil {
			counts[c.Type][b]++
		}
	}
	p.Y.Min = 0
	var peak float64
	for _, ns := range counts {
		for _, n := range ns {
			peak = max(peak, n)
		}
	}
	p.Y.Max = max(peak*1.5, 1) // headroom for the legend, top right
	for _, t := range []history.Type{history.OK, history.Fail, history.Info} {
		xys := make(plotter.XYs, bins)
		for i, n := range counts[t] {
			xys[i] = plotter.XY{X: float64(i) + 0.5, Y: n}
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return fmt.Errorf("report: rate plot: %w", err)
		}
		l.Color = typeColors[t]
		l.Width = vg.Points(1)
		p.Add(l)
		p.Legend.Add(string(t), l)
	}
	return nil
}

// addFaults shades every fault window, one colour per nemesis.
func addFaults(p *plot.Plot, faults []checker.FaultWindow, end float64) {
	byName := map[string][][2]float64{}
	var names []string
	for _, f := range faults {
		if _, ok := byName[f.Nemesis]; !ok {
			names = append(names, f.Nemesis)
		}
		byName[f.Nemesis] = append(byName[f.Nemesis], [2]float64{float64(f.Start) / 1e9, float64(f.End) / 1e9})
	}
	sort.Strings(names)
	for i, n := range names {
		s := spans{xs: byName[n], end: end, color: faultPalette[i%len(faultPalette)]}
		p.Add(s)
		p.Legend.Add(n, s)
	}
}

// spans fills vertical bands [x0, x1] over the whole height of the plot.
type spans struct {
	xs    [][2]float64
	end   float64
	color color.Color
}

func (s spans) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	for _, x := range s.xs {
		x0, x1 := trX(max(x[0], 0)), trX(min(max(x[1], x[0]), s.end))
		if x1-x0 < 1 {
			x1 = x0 + 1 // a fault shorter than a pixel still shows
		}
		c.FillPolygon(s.color, []vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}})
	}
}

func (s spans) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(s.color, []vg.Point{c.Min, {X: c.Max.X, Y: c.Min.Y}, c.Max, {X: c.Min.X, Y: c.Max.Y}})
}

// vline draws a vertical line at x over the whole height of the plot.
type vline struct {
	x     float64
	color color.Color
}

func (l vline) style() draw.LineStyle {
	return draw.LineStyle{Color: l.color, Width: vg.Points(1.5), Dashes: []vg.Length{vg.Points(4), vg.Points(2)}}
}

func (l vline) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x := trX(l.x)
	c.StrokeLine2(l.style(), x, c.Min.Y, x, c.Max.Y)
}

func (l vline) Thumbnail(c *draw.Canvas) {
	y := (c.Min.Y + c.Max.Y) / 2
	c.StrokeLine2(l.style(), c.Min.X, y, c.Max.X, y)
}

// allPoints is every point of every series (a range of none is empty).
func allPoints(series map[history.Type]plotter.XYs) plotter.XYs {
	var all plotter.XYs
	for _, xys := range series {
		all = append(all, xys...)
	}
	if len(all) == 0 {
		all = plotter.XYs{{X: 0, Y: 0.01}}
	}
	return all
}

// thin keeps at most n points of xys, evenly spaced.
func thin(xys plotter.XYs, n int) plotter.XYs {
	if len(xys) <= n {
		return xys
	}
	out := make(plotter.XYs, 0, n)
	step := float64(len(xys)) / float64(n)
	for i := 0; i < n; i++ {
		out = append(out, xys[int(float64(i)*step)])
	}
	return out
}

func svgURI(p *plot.Plot) (template.URL, error) {
	w, err := p.WriterTo(10*vg.Inch, 3.5*vg.Inch, "svg")
	if err != nil {
		return "", fmt.Errorf("report: render plot: %w", err)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return "", fmt.Errorf("report: render plot: %w", err)
	}
	// Safe as a URL: we generated it, and an <img> never runs SVG script.
	return template.URL("data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())), nil
}
