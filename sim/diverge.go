package sim

import "bytes"

// Divergence is where two histories that should be identical first differ.
type Divergence struct {
	Line int // 1-based line number of the first differing line
	A, B string
}

// FirstDivergence compares two history files' bytes line by line and
// returns the first line that differs (a missing line reads as ""), or
// nil when they are identical. Running one seed twice and comparing is how
// a leak of wall time, map order or unseeded randomness into the
// simulation is caught (madsim does the same).
func FirstDivergence(a, b []byte) *Divergence {
	if bytes.Equal(a, b) {
		return nil
	}
	la, lb := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	for i := range max(len(la), len(lb)) {
		var x, y []byte
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if !bytes.Equal(x, y) {
			return &Divergence{Line: i + 1, A: string(x), B: string(y)}
		}
	}
	return &Divergence{Line: max(len(la), len(lb))}
}
