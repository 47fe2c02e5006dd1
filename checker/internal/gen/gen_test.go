package gen

import (
	"reflect"
	"testing"

	"github.com/faultline-io/faultline/history"
)

func TestRegisterShape(t *testing.T) {
	cfg := Config{Ops: 12000, Keys: 10, Processes: 10, InfoRate: 0.01, FailRate: 0.02, NemesisEvery: 50_000_000, Seed: 1}
	ops := Register(cfg)
	if len(ops) != cfg.Ops {
		t.Fatalf("%d ops, want %d", len(ops), cfg.Ops)
	}
	if err := history.Validate(ops); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ops, Register(cfg)) {
		t.Error("same config, different histories")
	}
	count := map[history.Type]int{}
	nemesis := 0
	open := map[string]int{} // key → operations in flight
	overlaps := 0
	inflight := map[history.Process]string{}
	for i, op := range ops {
		if op.Index != int64(i) || i > 0 && op.Time < ops[i-1].Time {
			t.Fatalf("op %d: index %d, time %d after %d", i, op.Index, op.Time, ops[i-1].Time)
		}
		if op.IsNemesis() {
			nemesis++
			continue
		}
		count[op.Type]++
		if op.Type == history.Invoke {
			if open[op.Key] > 0 {
				overlaps++
			}
			open[op.Key]++
			inflight[op.Process] = op.Key
		} else {
			open[inflight[op.Process]]--
		}
	}
	t.Logf("%v, %d nemesis events, %d invokes overlapping another op on the same key", count, nemesis, overlaps)
	if count[history.Info] == 0 || count[history.Fail] == 0 || nemesis == 0 {
		t.Error("missing info, fail or nemesis events")
	}
	if overlaps < count[history.Invoke]/20 {
		t.Errorf("only %d of %d invokes overlap another op on the same key", overlaps, count[history.Invoke])
	}
}
