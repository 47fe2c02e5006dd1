package checker

import (
	"bufio"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/faultline-io/faultline/checker/internal/gen"
	"github.com/faultline-io/faultline/history"
)

func benchLinearizable(b *testing.B, cfg gen.Config) {
	ops := gen.Register(cfg)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := CheckLinearizable(ops, LinearizableOptions{Timeout: time.Minute})
		if r.Valid != True {
			b.Fatalf("%v: %s", r.Valid, r.Summary)
		}
	}
	b.ReportMetric(float64(len(ops))*float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkLinearizable12k checks a 12,000-op history (invokes and
// completions) over 10 keys from 10 concurrent clients, with 1% info ops,
// 2% definite failures and a nemesis event every 50 ms. Goal: ≤ 1 s.
func BenchmarkLinearizable12k(b *testing.B) {
	benchLinearizable(b, gen.Config{Ops: 12000, Keys: 10, Processes: 10, InfoRate: 0.01, FailRate: 0.02,
		NemesisEvery: 50_000_000, Seed: 1})
}

// BenchmarkLinearizable1M checks a 1,000,000-op history over 1,000 keys
// from 50 concurrent clients, with 0.5% info ops and 2% definite failures.
// Goal: ≤ 3 s.
func BenchmarkLinearizable1M(b *testing.B) {
	benchLinearizable(b, gen.Config{Ops: 1_000_000, Keys: 1000, Processes: 50, InfoRate: 0.005, FailRate: 0.02,
		NemesisEvery: 1_000_000_000, Seed: 2})
}

// BenchmarkLinearizableHotKey checks 20,000 ops on a single key from 10
// clients: no split helps here.
func BenchmarkLinearizableHotKey(b *testing.B) {
	benchLinearizable(b, gen.Config{Ops: 20000, Keys: 1, Processes: 10, InfoRate: 0.005, FailRate: 0.02, Seed: 3})
}

func BenchmarkStats1M(b *testing.B) {
	ops := gen.Register(gen.Config{Ops: 1_000_000, Keys: 1000, Processes: 50, InfoRate: 0.005, Seed: 2})
	b.ResetTimer()
	for b.Loop() {
		if r := CheckStats(ops, StatsOptions{AnsweredErrors: []string{"cas-mismatch"}}); r.Valid != True {
			b.Fatal(r.Summary)
		}
	}
}

// BenchmarkCheckFile1M is 'faultline check FILE' but for starting the
// process: ReadFile with the collector off, then the default checkers
// (linearizable and stats, at once, as Run runs them) at the command's GOGC
// of 400, on a 1,000,000-event
// history over 1,000 keys from 50 clients with unique values, 5% info and
// 2% failed ops (about 100 MB, written to a temporary file first). Goal for
// the command: under 0.6 s. The porcupine case reads the same file and
// checks the same operations with Porcupine alone (the register model,
// partitioned by key), for reference.
func BenchmarkCheckFile1M(b *testing.B) {
	ops := gen.Register(gen.Config{Ops: 1_000_000, Keys: 1000, Processes: 50, InfoRate: 0.05, FailRate: 0.02,
		Seed: 1, UniqueValues: true})
	path := filepath.Join(b.TempDir(), "history.jsonl")
	size := writeHistory(b, path, ops)
	ops = nil
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	// As the command does: no collection while the history is read.
	read := func(b *testing.B) []history.Op {
		debug.SetGCPercent(-1)
		defer debug.SetGCPercent(400)
		ops, err := history.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		return ops
	}
	for _, c := range []struct {
		name  string
		check func(b *testing.B, ops []history.Op)
	}{
		{"faultline", func(b *testing.B, ops []history.Op) {
			res, err := Run([]string{"linearizable", "stats"}, ops, Options{Linearizable: LinearizableOptions{Timeout: time.Minute}})
			if err != nil || res.Valid != True {
				b.Fatalf("%v %v: %+v", err, res.Valid, res.Results)
			}
		}},
		{"porcupine", func(b *testing.B, ops []history.Op) {
			byKey, _, err := convertRegister(ops)
			if err != nil {
				b.Fatal(err)
			}
			var all []*regOp
			for _, k := range slices.Sorted(maps.Keys(byKey)) {
				all = append(all, byKey[k]...)
			}
			if r := porcupine.CheckOperationsTimeout(registerModel(true), porcupineOps(all, false, nil), time.Minute); r != porcupine.Ok {
				b.Fatalf("Porcupine: %v", r)
			}
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				c.check(b, read(b))
			}
			b.ReportMetric(1e6*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// writeHistory writes ops to path as JSONL, as a Recorder would, and
// returns the file's size.
func writeHistory(b *testing.B, path string, ops []history.Op) int64 {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(w)
	for i := range ops {
		if err := enc.Encode(&ops[i]); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	fi, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return fi.Size()
}
