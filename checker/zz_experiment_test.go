package checker

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/faultline-io/faultline/checker/internal/gen"
	"github.com/faultline-io/faultline/history"
)

func TestZZExperiment(t *testing.T) {
	cfgs := []gen.Config{
		{Ops: 2000, Keys: 1, Processes: 10, Values: 3, InfoRate: 0.05, FailRate: 0.05, MeanLatency: 5_000_000},
		{Ops: 3000, Keys: 4, Processes: 20, Values: 10, InfoRate: 0.1},
		{Ops: 3000, Keys: 2, Processes: 10, Values: 1000, InfoRate: 0.1, MeanLatency: 3_000_000},
		{Ops: 3000, Keys: 2, Processes: 10, Values: 1000000, InfoRate: 0.1, MeanLatency: 3_000_000},
		{Ops: 2000, Keys: 1, Processes: 5, Values: 5, InfoRate: 0.02},
		{Ops: 2000, Keys: 1, Processes: 5, Values: 5, InfoRate: 0.05},
		{Ops: 12000, Keys: 10, Processes: 10, Values: 5, InfoRate: 0.01},
	}
	for ci, cfg := range cfgs {
		ops := gen.Register(cfg)
		bad := append([]history.Op(nil), ops...)
		for i := len(bad) - 1; i >= 0; i-- {
			if bad[i].F == "read" && bad[i].Type == history.OK {
				bad[i].Value = json.RawMessage("-1")
				break
			}
		}
		// also a mid-history corruption
		bad2 := append([]history.Op(nil), ops...)
		for i := len(bad2) / 2; i >= 0; i-- {
			if bad2[i].F == "read" && bad2[i].Type == history.OK {
				bad2[i].Value = json.RawMessage("-1")
				break
			}
		}
		t0 := time.Now()
		r0 := CheckLinearizable(ops, LinearizableOptions{Timeout: 20 * time.Second})
		t1 := time.Now()
		r := CheckLinearizable(bad, LinearizableOptions{Timeout: 20 * time.Second})
		t2 := time.Now()
		r2 := CheckLinearizable(bad2, LinearizableOptions{Timeout: 20 * time.Second})
		t3 := time.Now()
		t.Logf("cfg %d: valid %v %v | bad-end %v %v | bad-mid %v %v", ci, r0.Valid, t1.Sub(t0), r.Valid, t2.Sub(t1), r2.Valid, t3.Sub(t2))
	}
}
