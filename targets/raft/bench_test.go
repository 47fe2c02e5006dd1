package raft

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline-io/faultline/history"
	"github.com/faultline-io/faultline/targets/seam"
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

// BenchmarkForgetVoteDoubleLeaders measures how often the forget-vote bug
// turns into two leaders of one term, the precondition of any anomaly it
// can cause (docs/detection.md): a 3-node in-process cluster whose
// messages are all delayed (delay ± delay) while a random node is
// crash-restarted (down for 5 ms) every 75-225 ms, for 10 s per iteration.
// It reports terms that had a leader and terms that had two; the correct
// build must report none with two.
//
//	go test -run '^$' -bench ForgetVoteDoubleLeaders -benchtime 3x ./targets/raft/
func BenchmarkForgetVoteDoubleLeaders(b *testing.B) {
	for _, tc := range []struct {
		name  string
		bugs  []string
		delay time.Duration
	}{
		{"forget-vote/no-delay", []string{BugForgetVote}, 0},
		{"forget-vote/delay-50ms", []string{BugForgetVote}, 50 * time.Millisecond},
		{"correct/delay-50ms", nil, 50 * time.Millisecond},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var leaderTerms, doubleTerms int
			for i := 0; b.Loop(); i++ {
				l, d := doubleLeaders(b, uint64(i+1), tc.bugs, tc.delay, 10*time.Second)
				leaderTerms += l
				doubleTerms += d
			}
			b.ReportMetric(float64(leaderTerms)/float64(b.N), "leader-terms/op")
			b.ReportMetric(float64(doubleTerms)/float64(b.N), "two-leader-terms/op")
			if tc.bugs == nil && doubleTerms > 0 {
				b.Errorf("correct build: %d terms with two leaders", doubleTerms)
			}
		})
	}
}

// doubleLeaders runs the crash-restart schedule of
// BenchmarkForgetVoteDoubleLeaders for d and returns how many terms had a
// leader and how many had two, polling every node's status every 2 ms.
func doubleLeaders(tb testing.TB, seed uint64, bugs []string, delay, d time.Duration) (leaderTerms, doubleTerms int) {
	c := startMemCluster(tb, 3, bugs...)
	c.sink.close()
	if delay > 0 {
		for _, m := range c.msgs {
			if err := m.SetRules(map[string]seam.MsgRule{seam.AnyPeer: {Delay: delay, Jitter: delay}}, int64(seed)); err != nil {
				tb.Fatal(err)
			}
		}
	}
	rng := rand.New(rand.NewPCG(seed, 9))
	ids := c.ids()
	stop := time.Now().Add(d)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for time.Now().Before(stop) {
			time.Sleep(75*time.Millisecond + time.Duration(rng.Int64N(int64(150*time.Millisecond))))
			id := ids[rng.IntN(len(ids))]
			c.kill(id)
			time.Sleep(5 * time.Millisecond)
			c.start(id)
		}
	}()
	leaders := map[uint64]map[string]bool{}
	for time.Now().Before(stop) {
		c.mu.Lock()
		for id, mn := range c.live {
			if st := mn.n.Status(); st.State == "leader" {
				if leaders[st.Term] == nil {
					leaders[st.Term] = map[string]bool{}
				}
				leaders[st.Term][id] = true
			}
		}
		c.mu.Unlock()
		time.Sleep(2 * time.Millisecond)
	}
	<-done
	for _, ls := range leaders {
		if len(ls) > 1 {
			doubleTerms++
		}
	}
	return len(leaders), doubleTerms
}
