package raft

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/faultline-io/faultline/history"
)

// chaosOp is one completed client operation, timed from the test's start.
type chaosOp struct {
	op            history.Op // the completion
	call, return_ int64
}

// runChaos drives a memCluster with workers doing register ops while a
// nemesis isolates the leader, isolates or kills random nodes and heals, and
// returns the history.
func runChaos(t *testing.T, seed uint64, d time.Duration, bugs ...string) []chaosOp {
	c := startMemCluster(t, 3, bugs...)
	c.waitLeader(5 * time.Second)
	start := time.Now()
	now := func() int64 { return int64(time.Since(start)) }
	var mu sync.Mutex
	var ops []chaosOp
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			cl, err := NewClient(c.all())
			if err != nil {
				t.Error(err)
				return
			}
			defer cl.Close()
			for ctx.Err() == nil {
				op := history.Op{Type: history.Invoke, Key: fmt.Sprintf("k%d", rng.IntN(3))}
				switch x := rng.IntN(4); {
				case x < 2:
					op.F = "read"
				case x == 2:
					op.F, op.Value = "write", history.MustValue(rng.IntN(5))
				default:
					op.F, op.Value = "cas", history.MustValue([2]int{rng.IntN(5), rng.IntN(5)})
				}
				call := now()
				octx, ocancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
				done := cl.Invoke(octx, op)
				ocancel()
				mu.Lock()
				ops = append(ops, chaosOp{op: done, call: call, return_: now()})
				mu.Unlock()
				time.Sleep(time.Duration(rng.IntN(5)) * time.Millisecond)
			}
		}()
	}
	rng := rand.New(rand.NewPCG(seed, 1000))
	ids := c.ids()
	for ctx.Err() == nil {
		pause(ctx, 200*time.Millisecond)
		c.net.Heal()
		switch rng.IntN(4) {
		case 0, 1:
			lctx, lcancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			if l, err := (Target{}).Leader(lctx, c.all()); err == nil {
				c.net.Isolate(l, ids)
			}
			lcancel()
		case 2:
			c.net.Isolate(ids[rng.IntN(len(ids))], ids)
		case 3:
			id := ids[rng.IntN(len(ids))]
			c.kill(id)
			pause(ctx, 200*time.Millisecond)
			c.start(id)
		}
		pause(ctx, time.Duration(600+rng.IntN(900))*time.Millisecond)
	}
	c.net.Heal()
	wg.Wait()
	return ops
}

// registerInput is a porcupine input: a read, a write of v or a cas from
// from to to. unknown marks a write or cas whose outcome is unknown (info).
type registerInput struct {
	key         string
	f           string
	v, from, to int64
	unknown     bool
}

// A register's state is its value, or -1 when never written.
var registerModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, o := range h {
			k := o.Input.(registerInput).key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], o)
		}
		var out [][]porcupine.Operation
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return int64(-1) },
	Step: func(state, input, output any) (bool, any) {
		s, in := state.(int64), input.(registerInput)
		switch in.f {
		case "read":
			return output.(int64) == s, s
		case "write":
			return true, in.v
		default: // cas: ok ones must match; unknown ones match or do nothing
			if s == in.from {
				return true, in.to
			}
			return in.unknown, s
		}
	},
	DescribeOperation: func(input, output any) string {
		in := input.(registerInput)
		switch in.f {
		case "read":
			return fmt.Sprintf("read %s -> %v", in.key, output)
		case "write":
			return fmt.Sprintf("write %s %d", in.key, in.v)
		}
		return fmt.Sprintf("cas %s %d->%d unknown=%v", in.key, in.from, in.to, in.unknown)
	},
}

// checkLinearizable converts a chaos history for porcupine: ok operations
// with their times, info writes and cas as never returning, fails dropped.
func checkLinearizable(t *testing.T, ops []chaosOp) porcupine.CheckResult {
	var h []porcupine.Operation
	counts := map[history.Type]int{}
	for i, o := range ops {
		counts[o.op.Type]++
		in := registerInput{key: o.op.Key, f: o.op.F}
		switch o.op.F {
		case "write":
			json.Unmarshal(o.op.Value, &in.v)
		case "cas":
			var p [2]int64
			json.Unmarshal(o.op.Value, &p)
			in.from, in.to = p[0], p[1]
		}
		ret := o.return_
		var out any
		switch {
		case o.op.Type == history.Fail:
			continue
		case o.op.Type == history.Info:
			if o.op.F == "read" {
				continue
			}
			in.unknown, ret = true, math.MaxInt64
		case o.op.F == "read":
			v := int64(-1)
			if string(o.op.Value) != "null" {
				json.Unmarshal(o.op.Value, &v)
			}
			out = v
		}
		h = append(h, porcupine.Operation{ClientId: i, Input: in, Call: o.call, Output: out, Return: ret})
	}
	res := porcupine.CheckOperationsTimeout(registerModel, h, 20*time.Second)
	t.Logf("%d ops: %d ok, %d fail, %d info: %s", len(ops), counts[history.OK], counts[history.Fail], counts[history.Info], res)
	return res
}

// TestChaosLinearizable: under leader isolation, random isolation and
// crashes (losing unsynced writes), the correct build stays linearizable.
func TestChaosLinearizable(t *testing.T) {
	d := 6 * time.Second
	if testing.Short() {
		d = 3 * time.Second
	}
	ops := runChaos(t, 1, d)
	ok := 0
	for _, o := range ops {
		if o.op.Type == history.OK && o.op.F != "read" {
			ok++
		}
	}
	if ok < 50 {
		t.Fatalf("only %d writes succeeded: the cluster made little progress", ok)
	}
	if res := checkLinearizable(t, ops); res != porcupine.Ok {
		t.Fatalf("history is %s, want linearizable", res)
	}
}

// TestChaosDetectsBugs: the same schedule exposes each seeded bug it has
// the faults for. Its kills lose unsynced writes (MemStorage), so no-fsync
// is among them; lease-read needs a skewed clock (TestNodeBugLeaseRead) and
// forget-vote a restart within an election (TestNodeBugForgetVote).
func TestChaosDetectsBugs(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs the chaos schedule once per bug and seed")
	}
	for _, bug := range []string{BugAckBeforeCommit, BugStaleRead, BugNoFsync} {
		t.Run(bug, func(t *testing.T) {
			for seed := uint64(1); seed <= 3; seed++ {
				if checkLinearizable(t, runChaos(t, seed, 4*time.Second, bug)) == porcupine.Illegal {
					return
				}
			}
			t.Fatalf("bug %s not detected with 3 seeds", bug)
		})
	}
}
