package report

import (
	"fmt"
	"html/template"
	"image/color"
	"math"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/faultline-io/faultline/checker"
)

// maxStrobeEdges is the most half-periods of a strobe drawn as a square
// wave across the whole width of the plot (about 5 points each); a denser
// strobe would fill its band solid anyway, so it is drawn as a band from
// the unshifted offset to the offset plus its delta.
const maxStrobeEdges = 150

// clockPlot draws every node's clock offset over test time as one line
// per node (a strobe too dense to draw as a square wave is a band), over
// the fault windows shaded as the other plots shade them, as an SVG data:
// URI. end is the end of the x axis (s). It also returns a note naming the
// strobes drawn as bands.
func clockPlot(oc clockOffsets, faults []checker.FaultWindow, end float64) (template.URL, []string, error) {
	endNS := int64(end * 1e9)
	type band struct {
		node int
		xys  plotter.XYs
	}
	var lines []plotter.XYs
	var bands []band
	var notes []string
	peak := 0.0 // the largest |offset|, ns
	for i, c := range oc.Nodes {
		var xys plotter.XYs
		pt := func(t int64, v float64) {
			xys = append(xys, plotter.XY{X: float64(t), Y: v})
			peak = max(peak, math.Abs(v))
		}
		for j, s := range c.Skews {
			to := endNS
			if j+1 < len(c.Skews) {
				to = c.Skews[j+1].Start
			}
			if to < s.Start {
				continue
			}
			half := float64(to-s.Start) / float64(max(s.StrobePeriod, 1))
			switch {
			case !s.strobing():
				pt(s.Start, s.at(s.Start))
				pt(to, s.at(to))
			case half <= maxStrobeEdges*float64(to-s.Start)/float64(max(endNS, 1)):
				pt(s.Start, s.at(s.Start))
				// Every edge of the square wave inside (Start, to).
				k := max((s.Start-s.StrobeSince)/s.StrobePeriod+1, 1)
				for e := s.StrobeSince + k*s.StrobePeriod; e < to; e += s.StrobePeriod {
					if e <= s.Start {
						continue
					}
					pt(e, s.at(e-1))
					pt(e, s.at(e))
				}
				pt(to, s.at(to))
			default:
				pt(s.Start, s.base(s.Start))
				pt(to, s.base(to))
				d := float64(s.StrobeDelta)
				bands = append(bands, band{node: i, xys: plotter.XYs{
					{X: float64(s.Start), Y: s.base(s.Start)}, {X: float64(to), Y: s.base(to)},
					{X: float64(to), Y: s.base(to) + d}, {X: float64(s.Start), Y: s.base(s.Start) + d}}})
				peak = max(peak, math.Abs(s.base(s.Start)+d), math.Abs(s.base(to)+d))
				note := fmt.Sprintf("%s %s every %s from %s", c.Node, signedDuration(s.StrobeDelta), durationText(s.StrobePeriod), secs(s.StrobeSince))
				if !slices.Contains(notes, note) { // a strobe runs on across other faults
					notes = append(notes, note)
				}
			}
		}
		lines = append(lines, xys)
	}

	unit, label := 1e6, "ms"
	if peak >= 1e9 {
		unit, label = 1e9, "s"
	}
	scale := func(xys plotter.XYs) plotter.XYs {
		out := make(plotter.XYs, len(xys))
		for i, p := range xys {
			out[i] = plotter.XY{X: p.X / 1e9, Y: p.Y / unit}
		}
		return out
	}

	p := plot.New()
	addFaults(p, faults, end)
	p.Title.Text = "Clock offset the harness applied to each node (clock seam)"
	p.X.Label.Text = "test time (s)"
	p.Y.Label.Text = "clock offset (" + label + ")"
	lo, hi := 0.0, 0.0
	for _, xys := range lines {
		for _, pt := range xys {
			lo, hi = min(lo, pt.Y/unit), max(hi, pt.Y/unit)
		}
	}
	for _, b := range bands {
		for _, pt := range b.xys {
			lo, hi = min(lo, pt.Y/unit), max(hi, pt.Y/unit)
		}
		poly, err := plotter.NewPolygon(scale(b.xys))
		if err != nil {
			return "", nil, fmt.Errorf("report: clock plot: %w", err)
		}
		r, g, bl, _ := seriesPalette[b.node%len(seriesPalette)].RGBA()
		poly.Color = color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(bl >> 8), A: 0x50}
		poly.LineStyle.Width = 0
		p.Add(poly)
		edge, err := plotter.NewLine(scale(b.xys[2:]))
		if err != nil {
			return "", nil, fmt.Errorf("report: clock plot: %w", err)
		}
		edge.Color = seriesPalette[b.node%len(seriesPalette)]
		edge.Width = vg.Points(0.8)
		edge.Dashes = []vg.Length{vg.Points(3), vg.Points(2)}
		p.Add(edge)
	}
	for i, xys := range lines {
		l, err := plotter.NewLine(scale(xys))
		if err != nil {
			return "", nil, fmt.Errorf("report: clock plot: %w", err)
		}
		l.Color = seriesPalette[i%len(seriesPalette)]
		l.Width = vg.Points(1.2)
		if i >= len(seriesPalette) {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		}
		p.Add(l)
		p.Legend.Add(oc.Nodes[i].Node, l)
	}
	span := hi - lo
	if span == 0 {
		span = 1
	}
	p.X.Min, p.X.Max = 0, end
	p.Y.Min, p.Y.Max = lo-0.05*span, hi+0.6*span // headroom for the legend, top right
	p.Legend.Top = true
	uri, err := svgURI(p)
	if err != nil {
		return "", nil, err
	}
	if len(notes) > 0 {
		notes = []string{"strobes too fast to draw are bands from the offset to the offset plus the strobe's delta: " + strings.Join(notes, "; ")}
	}
	return uri, notes, nil
}

func durationText(ns int64) string { return time.Duration(ns).String() }

// signedDuration is ns with its sign, "+5s" or "-2ms".
func signedDuration(ns int64) string {
	if ns > 0 {
		return "+" + durationText(ns)
	}
	return durationText(ns)
}
