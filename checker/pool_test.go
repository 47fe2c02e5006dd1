package checker

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/faultline-io/faultline/checker/internal/gen"
	"github.com/faultline-io/faultline/history"
)

// mutate makes a random change that may make a history invalid.
func mutate(rng *rand.Rand, ops []history.Op, values int) string {
	for range 100 {
		i := rng.IntN(len(ops))
		op := &ops[i]
		switch {
		case op.F == "read" && op.Type == history.OK:
			v := rng.IntN(values+2) - 1
			if v == values {
				op.Value = json.RawMessage("null")
			} else {
				op.Value = history.MustValue(v)
			}
			return fmt.Sprintf("read at index %d returns %s", i, op.Value)
		case op.F == "write" && op.Type == history.Invoke:
			op.Value = history.MustValue(rng.IntN(values))
			return fmt.Sprintf("write invoked at index %d writes %s", i, op.Value)
		case op.F == "cas" && op.Type == history.Fail:
			op.Type = history.OK
			return fmt.Sprintf("cas completed at index %d succeeds", i)
		case op.F == "write" && op.Type == history.OK:
			op.Type = history.Fail
			return fmt.Sprintf("write completed at index %d fails", i)
		case op.Type == history.OK:
			op.Type = history.Info
			return fmt.Sprintf("op completed at index %d is info", i)
		}
	}
	return "nothing"
}

// TestPoolModelAgreesWithPlain checks the pool model (pool.go) against the
// plain encoding of unknown ops on thousands of small random histories,
// valid and mutated, with many info ops.
func TestPoolModelAgreesWithPlain(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	var valid, invalid, withUnknown, refuted int
	n := 3000
	if testing.Short() {
		n = 300
	}
	for i := range n {
		cfg := gen.Config{
			Ops: 10 + rng.IntN(70), Keys: 1, Processes: 2 + rng.IntN(4), Values: 2 + rng.IntN(3),
			InfoRate: 0.4 * rng.Float64(), FailRate: 0.2 * rng.Float64(), Seed: uint64(i),
			MeanLatency: 1 + rng.Int64N(3_000_000),
		}
		ops := gen.Register(cfg)
		var changes []string
		for range rng.IntN(3) {
			changes = append(changes, mutate(rng, ops, cfg.Values))
		}
		byKey, _, err := convertRegister(ops)
		if err != nil {
			t.Fatal(err)
		}
		part := byKey["k0"]
		plain := porcupine.CheckOperationsTimeout(registerModel(false), porcupineOps(part, false, nil), 10*time.Second)
		pool := porcupine.CheckOperationsTimeout(poolModel(false, false), porcupineOps(part, true, nil), 10*time.Second)
		relaxed := porcupine.CheckOperationsTimeout(poolModel(false, true), porcupineOps(part, true, nil), 10*time.Second)
		if relaxed == porcupine.Illegal && plain != porcupine.Illegal {
			t.Fatalf("case %d: the relaxed model refutes a history the plain model accepts", i)
		}
		if relaxed == porcupine.Illegal {
			refuted++
		}
		if plain == porcupine.Unknown || pool == porcupine.Unknown {
			t.Fatalf("case %d timed out: plain %v, pool %v", i, plain, pool)
		}
		if plain != pool {
			var b strings.Builder
			for _, op := range ops {
				j, _ := json.Marshal(op)
				b.Write(j)
				b.WriteByte('\n')
			}
			t.Fatalf("case %d (%+v, changes %v): plain model says %v, pool model %v\n%s", i, cfg, changes, plain, pool, b.String())
		}
		if plain == porcupine.Ok {
			valid++
		} else {
			invalid++
		}
		if needsPool(part) {
			withUnknown++
		}
	}
	t.Logf("%d valid, %d invalid (%d refuted by the relaxed model), %d with unknown writes or cas", valid, invalid, refuted, withUnknown)
	if valid < n/5 || invalid < n/5 || withUnknown < n/2 {
		t.Errorf("the cases do not exercise both verdicts and unknown ops enough")
	}
}

func TestPoolModelChains(t *testing.T) {
	// Effects chain: an info write then an info cas explain a read; using
	// the same info write twice does not.
	ops := h{}.
		call(0, "write", "", "1", ok, 0, 10).
		call(1, "write", "", "5", info, 20, 30).
		call(2, "cas", "", "[5,6]", info, 20, 30).
		call(3, "read", "", "6", ok, 40, 50)
	twice := h{}.
		call(0, "write", "", "1", ok, 0, 10).
		call(1, "write", "", "5", info, 20, 30).
		call(3, "read", "", "5", ok, 40, 50).
		call(0, "write", "", "1", ok, 60, 70).
		call(3, "read", "", "5", ok, 80, 90)
	for name, c := range map[string]struct {
		ops  h
		want porcupine.CheckResult
	}{"chain": {ops, porcupine.Ok}, "twice": {twice, porcupine.Illegal}} {
		byKey, _, err := convertRegister(c.ops)
		if err != nil {
			t.Fatal(err)
		}
		for _, pool := range []bool{false, true} {
			m := registerModel(false)
			if pool {
				m = poolModel(false, false)
			}
			if got := porcupine.CheckOperationsTimeout(m, porcupineOps(byKey[""], pool, nil), time.Minute); got != c.want {
				t.Errorf("%s (pool %v): %v, want %v", name, pool, got, c.want)
			}
		}
	}
}

// TestExplainWithEachModel draws a failing key as decided by each model.
func TestExplainWithEachModel(t *testing.T) {
	ops := h{}.
		call(0, "write", "", "1", ok, 0, 10).
		call(1, "write", "", "2", info, 20, 30).
		call(2, "cas", "", "[2,3]", info, 25, 35).
		call(0, "write", "", "4", ok, 40, 50).
		call(3, "read", "", "3", ok, 60, 70). // fine: the info ops applied late
		call(3, "read", "", "0", ok, 80, 90)  // nothing wrote 0
	for _, mode := range []regMode{modePlain, modePool, modeRelaxed} {
		byKey, _, err := convertRegister(ops)
		if err != nil {
			t.Fatal(err)
		}
		part := byKey[""]
		for _, op := range part {
			op.mode = mode
		}
		failures := []KeyFailure{{Key: "", Valid: False, Ops: len(part)}}
		dir := t.TempDir()
		ex := explain([][]*regOp{part}, failures, 100, time.Minute, DefaultMemoryBudget(), dir)
		if ex.file != VisualizationFile || !failures[0].Visualized {
			t.Errorf("%v: nothing drawn: %+v", mode, ex)
		}
		if s := failures[0].Stuck; s == nil || s.InvokeIndex != 10 || s.Time != 80 {
			t.Errorf("%v: stuck = %+v, want the read invoked at index 10", mode, s)
		}
	}
}
