package raft

import (
	"encoding/json"
	"fmt"
	"math"
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
