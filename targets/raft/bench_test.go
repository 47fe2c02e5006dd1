package raft

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline-io/faultline/history"
)

// BenchmarkRaftThroughput3Local measures acknowledged writes per second of
// a 3-node cluster run in-process on loopback (real HTTP, real fsync), with
// 10 concurrent clients.
//
//	go test -run '^$' -bench RaftThroughput3Local -benchtime 3s ./targets/raft/
func BenchmarkRaftThroughput3Local(b *testing.B) {
	c := startProcCluster(b, 3, nil)
	c.sink.close() // keep benchmark output quiet
	c.waitHealthy(5 * time.Second)
	const clients = 10
	b.SetParallelism((clients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	var failed, seq atomic.Int64
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		cl, err := NewClient(c.clusterNodes())
		if err != nil {
			b.Error(err)
			return
		}
		defer cl.Close()
		for pb.Next() {
			i := seq.Add(1)
			if op := do(cl, "write", fmt.Sprintf("k%d", i%16), i); op.Type != history.OK {
				failed.Add(1)
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
	if f := failed.Load(); f > int64(b.N)/100+1 {
		b.Errorf("%d of %d writes not acknowledged", f, b.N)
	}
}
