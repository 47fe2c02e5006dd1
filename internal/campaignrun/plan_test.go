package campaignrun

import (
	"fmt"
	"strings"
	"testing"
)

// plan returns n runs of tests a, b, c... with seeds 1..perTest, as a
// campaign file expands them.
func plan(tests, perTest int) []Run {
	var out []Run
	for t := 0; t < tests; t++ {
		for s := 1; s <= perTest; s++ {
			out = append(out, Run{Index: len(out), Test: fmt.Sprintf("t%d", t), Seed: int64(s), Expect: ExpectValid})
		}
	}
	return out
}

func TestParseShard(t *testing.T) {
	for _, s := range []string{"1/1", "1/3", "3/3", " 2/3 "} {
		if _, err := ParseShard(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"0/3", "4/3", "x", "", "1/0", "-1/3", "1/-3", "2", "1/3/4", "a/b", "1.5/3"} {
		if sh, err := ParseShard(s); err == nil {
			t.Errorf("%q: parsed as %v, want an error", s, sh)
		} else if !strings.Contains(err.Error(), "i/n") {
			t.Errorf("%q: error %q does not say what is wanted", s, err)
		}
	}
}

// The shards 1/n..n/n of a plan hold every run exactly once, for any n,
// also more shards than runs; each shard is in plan order and the split is
// the same every time.
func TestShardsCoverEveryRunOnce(t *testing.T) {
	for _, runs := range [][]Run{plan(1, 1), plan(3, 4), plan(5, 10), plan(2, 3)} {
		for n := 1; n <= len(runs)+2; n++ {
			seen := make([]int, len(runs))
			for i := 1; i <= n; i++ {
				s := Shard{Index: i, Count: n}
				got := Select(runs, s)
				for k, r := range got {
					seen[r.Index]++
					if k > 0 && got[k-1].Index >= r.Index {
						t.Fatalf("%d runs, shard %v: not in plan order", len(runs), s)
					}
					if ShardOf(r.Index, n) != s && n > 1 {
						t.Fatalf("ShardOf(%d, %d) = %v, want %v", r.Index, n, ShardOf(r.Index, n), s)
					}
				}
				if again := Select(runs, s); fmt.Sprint(again) != fmt.Sprint(got) {
					t.Fatalf("shard %v differs between two calls", s)
				}
			}
			for idx, c := range seen {
				if c != 1 {
					t.Fatalf("%d runs in %d shards: run %d held %d times", len(runs), n, idx, c)
				}
			}
		}
	}
	if got := len(Select(plan(3, 4), Shard{})); got != 12 {
		t.Errorf("the zero shard holds %d of 12 runs", got)
	}
}

// Round robin: a shard gets a share of every test, not a block of one.
func TestShardsMixTests(t *testing.T) {
	got := Select(plan(3, 3), Shard{Index: 2, Count: 3})
	var labels []string
	for _, r := range got {
		labels = append(labels, r.Label())
	}
	if want := "t0 seed 2,t1 seed 2,t2 seed 2"; strings.Join(labels, ",") != want {
		t.Errorf("shard 2/3 = %s, want %s", strings.Join(labels, ","), want)
	}
}

func TestClassifyAndExitCode(t *testing.T) {
	for _, tc := range []struct {
		expect string
		v      Verdict
		want   Outcome
	}{
		{ExpectValid, VerdictValid, OutcomeAsExpected},
		{ExpectValid, VerdictAnomaly, OutcomeNotAsExpected},
		{ExpectAnomaly, VerdictAnomaly, OutcomeAsExpected},
		{ExpectAnomaly, VerdictValid, OutcomeNotAsExpected},
		{ExpectAny, VerdictValid, OutcomeAsExpected},
		{ExpectAny, VerdictAnomaly, OutcomeAsExpected},
		{ExpectAny, VerdictUnknown, OutcomeUnknown},
		{ExpectValid, VerdictError, OutcomeError},
		{ExpectValid, VerdictNotStarted, OutcomeNotStarted},
	} {
		if got := Classify(tc.expect, tc.v); got != tc.want {
			t.Errorf("Classify(%s, %s) = %s, want %s", tc.expect, tc.v, got, tc.want)
		}
	}
	rec := func(o Outcome) Record { return Record{Outcome: o} }
	for _, tc := range []struct {
		recs []Record
		want int
	}{
		{nil, 0},
		{[]Record{rec(OutcomeAsExpected)}, 0},
		{[]Record{rec(OutcomeError), rec(OutcomeAsExpected)}, 255},
		{[]Record{rec(OutcomeError), rec(OutcomeUnknown)}, 2},
		{[]Record{rec(OutcomeError), rec(OutcomeNotStarted)}, 2},
		{[]Record{rec(OutcomeUnknown), rec(OutcomeNotAsExpected), rec(OutcomeError)}, 1},
	} {
		if got := ExitCode(tc.recs); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.recs, got, tc.want)
		}
	}
}
