package report

import (
	"fmt"
	"html/template"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/faultline-io/faultline/checker"
	"github.com/faultline-io/faultline/history"
)

// Plots of several runs side by side (a comparison of targets under one
// fault schedule). They are drawn like a run's plots — same size, fault
// windows shaded the same way — and returned as SVG data: URIs for an
// <img>, so a page embedding them fetches nothing and runs no script.

// seriesPalette colours the runs of a comparison plot, in order.
var seriesPalette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
	color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
	color.RGBA{R: 0xe3, G: 0x77, B: 0xc2, A: 0xff},
	color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff},
}

// Series is one run of a comparison plot: its name (the legend) and its
// client completions (checker.Pair of its history).
type Series struct {
	Name  string
	Comps []checker.Completion
}

// ThroughputPlot renders, for every series, the ok operations completed in
// each second of test time as one line, over the fault windows shaded by
// nemesis (the schedule the runs shared), as an SVG data: URI.
func ThroughputPlot(series []Series, faults []checker.FaultWindow) (template.URL, error) {
	var end float64
	for _, s := range series {
		for _, c := range s.Comps {
			end = max(end, float64(c.Complete)/1e9)
		}
	}
	for _, f := range faults {
		end = max(end, float64(f.End)/1e9)
	}
	if end == 0 {
		end = 1
	}
	p := plot.New()
	addFaults(p, faults, end)
	p.Title.Text = "ok operations per second, by target"
	p.Y.Label.Text = "ok ops/s"
	p.X.Label.Text = "test time (s)"
	bins := int(end) + 1
	var peak float64
	for i, s := range series {
		counts := make([]float64, bins)
		for _, c := range s.Comps {
			if b := int(float64(c.Complete) / 1e9); c.Type == history.OK && b >= 0 && b < bins {
				counts[b]++
			}
		}
		xys := make(plotter.XYs, bins)
		for b, n := range counts {
			xys[b] = plotter.XY{X: float64(b) + 0.5, Y: n}
			peak = max(peak, n)
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return "", fmt.Errorf("report: throughput plot: %w", err)
		}
		l.Color = seriesPalette[i%len(seriesPalette)]
		l.Width = vg.Points(1.2)
		p.Add(l)
		p.Legend.Add(s.Name, l)
	}
	p.X.Min, p.X.Max = 0, end
	p.Y.Min, p.Y.Max = 0, max(peak*1.5, 1) // headroom for the legend
	p.Legend.Top = true
	return svgURI(p)
}

// Bars is one run's bars of a grouped bar chart: a value per group, in the
// order of the groups; a nil value draws no bar.
type Bars struct {
	Name   string
	Values []*float64
}

// AvailabilityPlot renders availability shares (0 to 1) as grouped bars,
// one group per label (overall, then each fault kind) and one bar per run
// in each group, as an SVG data: URI.
func AvailabilityPlot(groups []string, runs []Bars) (template.URL, error) {
	p := plot.New()
	p.Title.Text = "Availability (answered operations), by target"
	p.Y.Label.Text = "% answered"
	p.Y.Min, p.Y.Max = 0, 130 // headroom for the legend
	n := max(len(runs), 1)
	width := vg.Points(min(24, 240/float64(n*max(len(groups), 1))))
	for i, r := range runs {
		vals := make(plotter.Values, len(groups))
		for g := range groups {
			if g < len(r.Values) && r.Values[g] != nil {
				vals[g] = *r.Values[g] * 100
			}
		}
		b, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return "", fmt.Errorf("report: availability plot: %w", err)
		}
		b.Color = seriesPalette[i%len(seriesPalette)]
		b.LineStyle.Width = 0
		b.Offset = width * vg.Length(float64(i)-float64(n-1)/2)
		p.Add(b)
		p.Legend.Add(r.Name, b)
	}
	p.NominalX(groups...)
	p.Legend.Top = true
	return svgURI(p)
}
