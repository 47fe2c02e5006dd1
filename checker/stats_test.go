package checker

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/faultline-io/faultline/history"
)

func TestCheckStats(t *testing.T) {
	ops := h{}.
		o(history.Nemesis, info, "start-partition", "", "", 0)
	// 100 ok reads with latencies 1..100 ns.
	for i := int64(1); i <= 100; i++ {
		ops = ops.call(history.Process(i%3), "read", "k", "1", ok, i*1000, i*1000+i)
	}
	ops = ops.
		call(5, "write", "k", "1", fail, 200000, 200100).
		call(6, "write", "k", "2", info, 200000, 300000).
		call(7, "cas", "k", "[1,2]", ok, 200000, 201000).
		call(8, "write", "k", "3", "", 300000, 0). // never completed
		o(history.Nemesis, info, "stop-partition", "", "", 400000)
	r := CheckStats(ops, StatsOptions{AnsweredErrors: []string{"cas-mismatch"}})
	if r.Checker != "stats" || r.Valid != True {
		t.Fatalf("%+v", r)
	}
	var d StatsDetails
	if err := json.Unmarshal(r.Details, &d); err != nil {
		t.Fatal(err)
	}
	want := StatsDetails{
		// 101 latencies: 1..100 and 1000; nearest rank ceil(0.5*101) = 51
		// and ceil(0.99*101) = 100.
		Total: OpStats{OK: 101, Fail: 1, Info: 1, Pending: 1, Latency: Latency{P50: 51, P99: 100, Max: 1000}},
		ByF: map[string]OpStats{
			"read":  {OK: 100, Latency: Latency{P50: 50, P99: 99, Max: 100}},
			"write": {Fail: 1, Info: 1, Pending: 1},
			"cas":   {OK: 1, Latency: Latency{P50: 1000, P99: 1000, Max: 1000}},
		},
		NemesisEvents: 2,
	}
	// Every operation was invoked during the partition (0 to 400 µs).
	if len(d.Faults) != 1 || d.Faults[0].Nemesis != "partition" || d.Faults[0].OK != 101 || d.Faults[0].Fail != 1 ||
		d.Faults[0].Info != 1 || d.DuringFaults.OK != 101 || d.NoFault.OK+d.NoFault.Fail+d.NoFault.Info != 0 ||
		d.NoFault.Availability != nil || d.DuringFaults.Availability == nil || *d.DuringFaults.Availability != 101.0/103 {
		t.Errorf("fault windows: %+v, during %+v, without %+v", d.Faults, d.DuringFaults, d.NoFault)
	}
	d.Faults, d.NoFault, d.DuringFaults = nil, WindowStats{}, WindowStats{}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("details\n got %+v\nwant %+v", d, want)
	}
	if !strings.Contains(r.Summary, "p50 51ns, p99 100ns") {
		t.Errorf("summary %q", r.Summary)
	}
}

func TestCheckStatsAvailabilityByFaultWindow(t *testing.T) {
	kill := `{"nemesis":"kill","nodes":["n1"]}`
	ops := h{}.
		call(0, "read", "k", "1", ok, 0, 10).
		call(1, "read", "k", "1", ok, 100, 110).
		o(history.Nemesis, info, "kill", "", kill, 1000).
		call(0, "write", "k", "1", info, 1100, 2100).
		call(2, "read", "k", "1", fail, 1200, 1300).
		call(3, "read", "k", "1", ok, 1300, 1400).
		o(history.Nemesis, info, "heal", "", `{"nemesis":"kill"}`, 2000).
		call(3, "read", "k", "1", ok, 2500, 2600).
		call(4, "cas", "k", "[1,2]", fail, 2700, 2800) // answered: cas-mismatch (below)
	ops[len(ops)-1].Error = "cas-mismatch"
	var d StatsDetails
	r := CheckStats(ops, StatsOptions{AnsweredErrors: []string{"cas-mismatch"}})
	if err := json.Unmarshal(r.Details, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Faults) != 1 {
		t.Fatalf("faults = %+v", d.Faults)
	}
	w := d.Faults[0]
	if w.Nemesis != "kill" || w.Start != 1000 || w.End != 2000 || w.OK != 1 || w.Fail != 1 || w.Info != 1 ||
		*w.Availability != 1.0/3 || w.Nodes[0] != "n1" {
		t.Errorf("kill window = %+v", w)
	}
	if d.NoFault.OK != 3 || d.NoFault.Fail != 1 || *d.NoFault.Availability != 1 {
		t.Errorf("without faults = %+v", d.NoFault)
	}
	if !strings.Contains(r.Summary, "available 100.0% without faults, 33.3% during faults") {
		t.Errorf("summary %q", r.Summary)
	}
}

func TestCheckStatsNothingOK(t *testing.T) {
	ops := h{}.call(0, "write", "", "1", info, 0, 10).call(1, "read", "", "", fail, 0, 10)
	r := CheckStats(ops, StatsOptions{AnsweredErrors: []string{"cas-mismatch"}})
	if r.Valid != Unknown || !strings.Contains(r.Summary, "no client operation completed ok") {
		t.Errorf("%v %q; want unknown saying no op completed ok", r.Valid, r.Summary)
	}
	if r := CheckStats(nil, StatsOptions{}); r.Valid != Unknown {
		t.Errorf("empty history: %v", r.Valid)
	}
}

func TestQuantiles(t *testing.T) {
	for _, c := range []struct {
		in   []int64
		want Latency
	}{
		{[]int64{7}, Latency{7, 7, 7}},
		{[]int64{4, 1, 3, 2}, Latency{2, 4, 4}},
		{[]int64{5, 1, 2, 3, 4}, Latency{3, 5, 5}},
	} {
		if got := quantiles(c.in); got != c.want {
			t.Errorf("quantiles(%v) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

// TestSelectRank holds selectRank to sorting, on random data, runs of
// equal values and data already in order or reversed (the inputs that
// make a naive quickselect quadratic).
func TestSelectRank(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		n := 1 + rng.IntN(300)
		if i%100 == 0 {
			n = 1 + rng.IntN(100000)
		}
		d := make([]int64, n)
		mod := 1 + rng.Int64N(1000)
		for j := range d {
			d[j] = [...]int64{rng.Int64N(mod), int64(j), int64(n - j), int64(j % 3)}[i%4]
		}
		sorted := slices.Sorted(slices.Values(d))
		k := rng.IntN(n)
		if got := selectRank(d, k); got != sorted[k] {
			t.Fatalf("case %d: rank %d of %d = %d, want %d", i, k, n, got, sorted[k])
		}
		if slices.Max(d[:k+1]) != d[k] || slices.Min(d[k:]) != d[k] {
			t.Fatalf("case %d: d[%d] does not split d", i, k)
		}
		want := Latency{P50: sorted[(500*n+999)/1000-1], P99: sorted[(990*n+999)/1000-1], Max: sorted[n-1]}
		if got := quantiles(d); got != want {
			t.Fatalf("case %d: quantiles = %+v, want %+v", i, got, want)
		}
	}
}

func TestResultsRoundTrip(t *testing.T) {
	at := int64(1234)
	rs := Compose(
		Result{Checker: "linearizable", Valid: False, Summary: "bad", Details: json.RawMessage(`{"keys":["a"]}`),
			Files: []string{"linearizable.html"}, FirstAnomalyTime: &at},
		Result{Checker: "stats", Valid: Unknown},
		Result{Checker: "other", Valid: True},
	)
	path := filepath.Join(t.TempDir(), ResultsFile)
	if err := WriteResults(path, rs); err != nil {
		t.Fatal(err)
	}
	got, err := ReadResults(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got.Results { // indentation reformats details
		if d := got.Results[i].Details; d != nil {
			var b bytes.Buffer
			if err := json.Compact(&b, d); err != nil {
				t.Fatal(err)
			}
			got.Results[i].Details = b.Bytes()
		}
	}
	if !reflect.DeepEqual(got, rs) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, rs)
	}
	if got.Valid != False {
		t.Errorf("composed Valid = %v", got.Valid)
	}
	// Overwriting leaves no temporary files behind.
	if err := WriteResults(path, Compose()); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*")); len(m) != 1 {
		t.Errorf("directory holds %v", m)
	}
	if _, err := ReadResults(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("reading a missing file succeeded")
	}
}

func TestRun(t *testing.T) {
	ops := h{}.call(0, "write", "", "1", ok, 0, 10).call(1, "read", "", "2", ok, 20, 30)
	rs, err := Run([]string{"stats", "linearizable"}, ops, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Results) != 2 || rs.Results[0].Checker != "stats" || rs.Results[1].Checker != "linearizable" {
		t.Fatalf("results %+v", rs.Results)
	}
	if rs.Valid != False || rs.Results[0].Valid != True || rs.Results[1].Valid != False {
		t.Errorf("valid %v (%v, %v); want false from linearizable", rs.Valid, rs.Results[0].Valid, rs.Results[1].Valid)
	}

	dir := t.TempDir()
	rs, err = Run([]string{"linearizable"}, ops, Options{Linearizable: LinearizableOptions{OutDir: dir}})
	if err != nil || len(rs.Results[0].Files) != 1 {
		t.Errorf("OutDir not passed through: %v %+v", err, rs)
	}

	if _, err := Run([]string{"stats", "bogus"}, ops, Options{}); err == nil || !strings.Contains(err.Error(), `"bogus"`) {
		t.Errorf("unknown checker: err = %v, want one naming \"bogus\"", err)
	}
	if _, err := Run([]string{"stats", "stats"}, ops, Options{}); err == nil {
		t.Error("a checker named twice was accepted")
	}
	if _, err := Run(nil, ops, Options{}); err == nil {
		t.Error("no checkers accepted")
	}
	if got := Names(); !reflect.DeepEqual(got, []string{"bank", "convergence", "linearizable", "stats"}) {
		t.Errorf("Names() = %v", got)
	}
}

func TestRunRecoversPanics(t *testing.T) {
	registry["boom"] = func([]history.Op, Options) Result { panic("kaboom") }
	defer delete(registry, "boom")
	ops := h{}.call(0, "write", "", "1", ok, 0, 10)
	rs, err := Run([]string{"boom", "stats"}, ops, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := rs.Results[0]
	if b.Checker != "boom" || b.Valid != Unknown || !strings.Contains(b.Summary, "kaboom") || !strings.Contains(string(b.Details), "stack") {
		t.Errorf("panicking checker gave %+v", b)
	}
	if rs.Results[1].Valid != True || rs.Valid != Unknown {
		t.Errorf("other checkers or composition affected: %+v", rs)
	}
}
