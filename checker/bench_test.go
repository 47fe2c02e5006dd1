package checker

import (
	"testing"
	"time"

	"github.com/faultline-io/faultline/checker/internal/gen"
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
