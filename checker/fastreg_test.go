package checker

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/faultline-io/faultline/checker/internal/gen"
	"github.com/faultline-io/faultline/history"
)

// mutateUnique makes a random change to a unique-value history that may
// make it invalid but keeps its values unique: a read returns another
// written value or null, a failed cas succeeds, an ok write fails, an ok op
// becomes info, or an ok op's interval shrinks.
func mutateUnique(rng *rand.Rand, ops []history.Op) string {
	var written []json.RawMessage
	invokes := make(map[history.Process]int) // process → its last invoke seen
	inv := make([]int, len(ops))             // completion → its invoke
	for i, op := range ops {
		switch {
		case op.Type == history.Invoke:
			invokes[op.Process] = i
			switch op.F {
			case "write":
				written = append(written, op.Value)
			case "cas":
				var p [2]int64
				if json.Unmarshal(op.Value, &p) == nil {
					written = append(written, history.MustValue(p[1]))
				}
			}
		case !op.IsNemesis():
			inv[i] = invokes[op.Process]
		}
	}
	for range 100 {
		i := rng.IntN(len(ops))
		op := &ops[i]
		if op.Type == history.Invoke || op.IsNemesis() {
			continue
		}
		switch r := rng.IntN(5); {
		case r == 0 && op.F == "read" && op.Type == history.OK:
			if len(written) == 0 || rng.IntN(4) == 0 {
				op.Value = json.RawMessage("null")
			} else {
				op.Value = written[rng.IntN(len(written))]
			}
			return fmt.Sprintf("read at index %d returns %s", i, op.Value)
		case r == 1 && op.F == "cas" && op.Type == history.Fail:
			op.Type = history.OK
			return fmt.Sprintf("cas completed at index %d succeeds", i)
		case r == 2 && op.F == "write" && op.Type == history.OK:
			op.Type = history.Fail
			return fmt.Sprintf("write completed at index %d fails", i)
		case r == 3 && op.Type == history.OK:
			op.Type = history.Info
			return fmt.Sprintf("op completed at index %d is info", i)
		case r == 4 && op.Type == history.OK:
			call := ops[inv[i]].Time
			if op.Time > call {
				op.Time = call + rng.Int64N(op.Time-call)
				return fmt.Sprintf("op completed at index %d completes at %d", i, op.Time)
			}
		}
	}
	return "nothing"
}

func dumpHistory(ops []history.Op) string {
	var b strings.Builder
	for _, op := range ops {
		j, _ := json.Marshal(op)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// TestFastRegisterAgreesWithPorcupine compares the fast path with
// Porcupine's plain model on thousands of small random unique-value
// histories, valid and mutated, with info ops and cas. The fast path must
// never say true where Porcupine does not; it should decide every valid
// one (the witness argument in fastreg.go says it can).
func TestFastRegisterAgreesWithPorcupine(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 2))
	n := 5000
	if testing.Short() {
		n = 500
	}
	var valid, invalid, decided, missed, unknownIncluded, timedOut int
	for i := range n {
		cfg := gen.Config{
			Ops: 10 + rng.IntN(90), Keys: 1, Processes: 2 + rng.IntN(6), UniqueValues: true,
			InfoRate: 0.4 * rng.Float64(), FailRate: 0.2 * rng.Float64(), Seed: uint64(i),
			MeanLatency: 1 + rng.Int64N(3_000_000),
		}
		if i%25 == 0 {
			// Every 25th: longer, with more clients in flight, and not
			// mutated: proving a long history invalid can take Porcupine
			// minutes.
			cfg.Ops, cfg.Processes, cfg.InfoRate = 200+rng.IntN(300), 5+rng.IntN(10), 0.1*rng.Float64()
		}
		ops := gen.Register(cfg)
		var changes []string
		for range rng.IntN(3) * btoi(i%25 != 0) { // the longer ones stay valid
			changes = append(changes, mutateUnique(rng, ops))
		}
		byKey, _, err := convertRegister(ops)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		part := byKey["k0"]
		fast := fastRegister(part)
		var porc porcupine.CheckResult
		if i%25 != 0 {
			porc = porcupine.CheckOperationsTimeout(registerModel(false), porcupineOps(part, false, nil), 10*time.Second)
			if porc == porcupine.Unknown {
				t.Fatalf("case %d: Porcupine timed out", i)
			}
		} else {
			// The checker's own race of models, without the fast path,
			// and skipped if undecided.
			fastRegisterEnabled = false
			porc, _ = checkKey(new(fastScratch), part, time.Now().Add(time.Second), nil)
			fastRegisterEnabled = true
			if porc == porcupine.Unknown {
				timedOut++
				continue
			}
		}
		if fast && porc != porcupine.Ok {
			t.Fatalf("case %d (%+v, changes %v): fast path says linearizable, Porcupine %v\n%s", i, cfg, changes, porc, dumpHistory(ops))
		}
		if porc == porcupine.Ok {
			valid++
			if fast {
				decided++
			} else {
				missed++
				t.Errorf("case %d (%+v, changes %v): linearizable, but the fast path did not decide it\n%s", i, cfg, changes, dumpHistory(ops))
			}
		} else {
			invalid++
		}
		for _, op := range part {
			if op.unknown && op.f != regRead {
				unknownIncluded++
				break
			}
		}
	}
	t.Logf("%d histories: %d valid (%d decided by the fast path, %d not), %d invalid, %d undecided by Porcupine in 1 s; %d with observed unknown writes or cas",
		n, valid, decided, missed, invalid, timedOut, unknownIncluded)
	if valid < n/5 || invalid < n/10 || unknownIncluded < n/5 {
		t.Errorf("the cases do not exercise both verdicts and unknown ops enough")
	}
}

// TestFastRegisterCases checks small histories by hand: what the fast path
// decides, what it leaves to Porcupine, and that the checker's verdict is
// the same either way.
func TestFastRegisterCases(t *testing.T) {
	cases := []struct {
		name string
		ops  h
		fast bool  // the fast path decides it (true)
		want Valid // the checker's verdict
	}{
		{"write read", h{}.
			call(0, "write", "", "1", ok, 0, 10).
			call(1, "read", "", "1", ok, 5, 20), true, True},
		{"null then writes", h{}.
			call(0, "read", "", "null", ok, 0, 10).
			call(1, "write", "", "1", ok, 5, 20).
			call(2, "write", "", "2", ok, 5, 30).
			call(0, "read", "", "1", ok, 21, 40).
			call(3, "read", "", "2", ok, 25, 26), true, True},
		{"cas chain with an info cas observed", h{}.
			call(0, "write", "", "1", ok, 0, 10).
			call(1, "cas", "", "[1,2]", info, 11, 12).
			call(2, "cas", "", "[2,3]", ok, 13, 20).
			call(3, "read", "", "3", ok, 21, 22), true, True},
		{"info write read later", h{}.
			call(0, "write", "", "1", ok, 0, 10).
			call(1, "write", "", "2", info, 11, 12).
			call(2, "read", "", "1", ok, 13, 14).
			call(3, "read", "", "2", ok, 100, 110), true, True},
		{"unobserved info write dropped", h{}.
			call(0, "write", "", "1", ok, 0, 10).
			call(1, "write", "", "2", info, 1, 2).
			call(2, "read", "", "1", ok, 13, 14), true, True},
		{"read before the write was invoked", h{}.
			call(0, "read", "", "1", ok, 0, 10).
			call(1, "write", "", "1", ok, 20, 30), false, False},
		{"stale read", staleRead("", 0), false, False},
		{"read of a value never written", h{}.
			call(0, "write", "", "1", ok, 0, 10).
			call(1, "read", "", "7", ok, 20, 30), false, False},
		{"two cas from one value", h{}.
			call(0, "write", "", "1", ok, 0, 10).
			call(1, "cas", "", "[1,2]", ok, 11, 20).
			call(2, "cas", "", "[1,3]", ok, 11, 20), false, False},
		{"null after a write", h{}.
			call(0, "write", "", "1", ok, 0, 10).
			call(1, "read", "", "null", ok, 20, 30), false, False},
		{"zones overlap", h{}.
			call(0, "write", "", "1", ok, 0, 10).
			call(1, "write", "", "2", ok, 0, 10).
			call(2, "read", "", "1", ok, 20, 30).
			call(3, "read", "", "2", ok, 20, 30).
			call(2, "read", "", "1", ok, 40, 50), false, False},
		{"duplicate values do not qualify", h{}.
			call(0, "write", "", "1", ok, 0, 10).
			call(1, "write", "", "1", ok, 20, 30).
			call(2, "read", "", "1", ok, 40, 50), false, True},
	}
	for _, c := range cases {
		byKey, _, err := convertRegister(c.ops)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := fastRegister(byKey[""]); got != c.fast {
			t.Errorf("%s: fast path %v, want %v", c.name, got, c.fast)
		}
		for _, on := range []bool{true, false} {
			fastRegisterEnabled = on
			r := lin(t, c.ops, LinearizableOptions{})
			if r.Valid != c.want {
				t.Errorf("%s (fast path %v): %v, want %v: %s", c.name, on, r.Valid, c.want, r.Summary)
			}
			if d := details(t, r); on && d.FastKeys != btoi(c.fast) {
				t.Errorf("%s: fast keys %d", c.name, d.FastKeys)
			}
		}
		fastRegisterEnabled = true
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// testdataHistories reads every history under the module's testdata
// directories: Jepsen logs and EDN, and JSONL.
func testdataHistories(t *testing.T) map[string][]history.Op {
	t.Helper()
	out := make(map[string][]history.Op)
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.Contains(filepath.ToSlash(path), "/testdata/") {
			return nil
		}
		var ops []history.Op
		switch filepath.Ext(path) {
		case ".log", ".edn":
			ops, err = history.ReadJepsenFile(path)
		case ".jsonl":
			ops, err = history.ReadFile(path)
		default:
			return nil
		}
		if err != nil {
			t.Logf("%s: skipped: %v", path, err)
			return nil
		}
		out[path] = ops
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFastRegisterTestdata checks that the linearizable checker's verdict
// on every history under testdata is the same with and without the fast
// path, and that the fast path agrees with Porcupine on each key.
func TestFastRegisterTestdata(t *testing.T) {
	defer func() { fastRegisterEnabled = true }()
	files := testdataHistories(t)
	if len(files) < 10 {
		t.Fatalf("found %d testdata histories", len(files))
	}
	fastKeys := 0
	for _, path := range slices.Sorted(maps.Keys(files)) {
		ops := files[path]
		fastRegisterEnabled = true
		on := CheckLinearizable(ops, LinearizableOptions{Timeout: time.Minute})
		fastRegisterEnabled = false
		off := CheckLinearizable(ops, LinearizableOptions{Timeout: time.Minute})
		if on.Valid != off.Valid {
			t.Errorf("%s: %v with the fast path, %v without: %s / %s", path, on.Valid, off.Valid, on.Summary, off.Summary)
		}
		if on.Valid != Unknown {
			fastKeys += details(t, on).FastKeys
		}
		byKey, _, err := convertRegister(ops)
		if err != nil {
			continue
		}
		for k, part := range byKey {
			if fastRegister(part) {
				if r := porcupine.CheckOperationsTimeout(registerModel(false), porcupineOps(part, false, nil), time.Minute); r != porcupine.Ok {
					t.Errorf("%s key %q: fast path true, Porcupine %v", path, k, r)
				}
			}
		}
		t.Logf("%s: %v", path, on.Valid)
	}
	t.Logf("%d histories, %d keys decided by the fast path", len(files), fastKeys)
}

// hotKeyUnique is issue 13's benchmark history: n events on one key from
// 50 clients, 5% info ops, unique values.
func hotKeyUnique(n int) []history.Op {
	return gen.Register(gen.Config{Ops: n, Keys: 1, Processes: 50, InfoRate: 0.05, FailRate: 0.02, UniqueValues: true, Seed: 1})
}

func TestFastRegisterHotKey(t *testing.T) {
	for _, n := range []int{20_000, 100_000} {
		ops := hotKeyUnique(n)
		start := time.Now()
		r := CheckLinearizable(ops, LinearizableOptions{Timeout: time.Minute})
		el := time.Since(start)
		d := details(t, r)
		if r.Valid != True || d.FastKeys != 1 {
			t.Fatalf("%d events: %v, %d fast keys: %s", n, r.Valid, d.FastKeys, r.Summary)
		}
		if el > 5*time.Second {
			t.Errorf("%d events took %v", n, el)
		}
		t.Logf("%d events: %v, %s", n, el, d.Ops)
	}
}

// benchHotKey checks hotKeyUnique(n) with the fast path, or without it
// under a 5 s timeout (Porcupine alone, the reference). peak-heap-B is the
// largest heap the checker's memory watch sampled.
func benchHotKey(b *testing.B, n int, fast bool) {
	defer func() { fastRegisterEnabled = true }()
	fastRegisterEnabled = fast
	ops := hotKeyUnique(n)
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	var peak uint64
	verdicts := make(map[Valid]int)
	for b.Loop() {
		r := CheckLinearizable(ops, LinearizableOptions{Timeout: 5 * time.Second, MemoryBudget: 4 << 30})
		verdicts[r.Valid]++
		if fast && r.Valid != True {
			b.Fatalf("%v: %s", r.Valid, r.Summary)
		}
		var d LinearizableDetails
		if err := json.Unmarshal(r.Details, &d); err == nil {
			peak = max(peak, d.PeakHeap)
		}
	}
	b.ReportMetric(float64(peak), "peak-heap-B")
	b.Logf("%d events, fast path %v: verdicts %v", n, fast, verdicts)
}

func BenchmarkFastPathHotKey20k(b *testing.B) {
	b.Run("fast", func(b *testing.B) { benchHotKey(b, 20_000, true) })
	b.Run("porcupine-5s", func(b *testing.B) { benchHotKey(b, 20_000, false) })
}

func BenchmarkFastPathHotKey100k(b *testing.B) {
	b.Run("fast", func(b *testing.B) { benchHotKey(b, 100_000, true) })
	b.Run("porcupine-5s", func(b *testing.B) { benchHotKey(b, 100_000, false) })
}

// TestFastScratchReuse: a scratch reused from key to key, large and small
// (as a checkKeys worker reuses it), finds the witness a fresh one finds.
func TestFastScratchReuse(t *testing.T) {
	var s fastScratch
	for i := range 300 {
		n := 10 + (i*7919)%3000
		if i%50 == 0 {
			n = 20000 // a large key first, then small ones after it
		}
		ops := gen.Register(gen.Config{Ops: n, Keys: 1 + i%3, Processes: 2 + i%7, InfoRate: float64(i%5) * 0.05,
			FailRate: 0.05, Seed: uint64(i), UniqueValues: true})
		byKey, _, err := convertRegister(ops)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range slices.Sorted(maps.Keys(byKey)) {
			part := byKey[k]
			want := slices.Clone(fastWitness(part))
			got := s.witness(part)
			if (got == nil) != (want == nil) || !slices.Equal(got, want) {
				t.Fatalf("case %d key %s: reused scratch gives %d ops, fresh %d", i, k, len(got), len(want))
			}
		}
	}
}
