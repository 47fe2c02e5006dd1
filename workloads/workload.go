// Package workloads holds operation generators. Generators are pure: they take
// a random source explicitly and never read the clock, so they are tested
// without a cluster. They decide what to ask; target clients decide how.
package workloads

import (
	"fmt"
	"math/rand"
	"slices"
	"sort"

	"github.com/faultline-io/faultline/history"
)

// Generator produces invocations for client workers.
type Generator interface {
	// Worker returns worker w's stream (0 <= w < Options.Workers). Its
	// sequence of invocations is a function of the options, w and the
	// random source it is given alone, never of other workers' progress.
	// Streams of different workers may be used concurrently.
	Worker(w int) Stream
	// FinalReads returns the reads to perform after the final heal, one per
	// key this generator has touched.
	FinalReads() []history.Op
}

// Stream is one worker's sequence of invocations. It is not safe for
// concurrent use.
type Stream interface {
	// Next returns the next invocation (Type invoke; Process, Time and
	// Index are set by the caller).
	Next(r *rand.Rand) history.Op
}

// Options configures a generator.
type Options struct {
	// Keys is how many keys are active at once.
	Keys int
	// OpsPerKey retires a key after this many invocations, so that each
	// key's history stays small enough to check (as Jepsen's independent
	// generators do). Zero means never.
	OpsPerKey int
	// Workers is how many workers will draw streams (default 1).
	Workers int
	// Ops restricts the generator to these ops (the ones the target
	// serves); empty means every op of the workload. A generator refuses
	// a set that leaves it nothing to do.
	Ops []string
}

// allows reports whether o lets a generator issue op f.
func (o Options) allows(f string) bool { return len(o.Ops) == 0 || slices.Contains(o.Ops, f) }

// DefaultOptions are the options the CLI uses.
func DefaultOptions() Options { return Options{Keys: 5, OpsPerKey: 400} }

// workload is one registered workload: its ops and its generator.
type workload struct {
	ops []string
	new func(Options) Generator
}

var factories = map[string]workload{
	"register":    {[]string{"read", "write", "cas"}, func(o Options) Generator { return NewRegister(o) }},
	"mv-register": {[]string{"read", "write"}, func(o Options) Generator { return NewRegister(o) }},
	// lww-register is register without cas, for targets that check a
	// last-writer-wins register for convergence alone.
	"lww-register": {[]string{"read", "write"}, func(o Options) Generator { return NewRegister(o) }},
	"counter":      {[]string{"read", "add"}, func(o Options) Generator { return NewCounter(o) }},
	"set":          {[]string{"read", "add", "remove"}, func(o Options) Generator { return NewSet(o) }},
	"bank":         {[]string{"read", "transfer"}, func(o Options) Generator { return NewBank(o) }},
}

// New returns the generator of the named workload. o.Ops must be ops of
// the workload and include "read" and one op that changes state.
func New(name string, o Options) (Generator, error) {
	f, ok := factories[name]
	if !ok {
		return nil, fmt.Errorf("unknown workload %q (known: %v)", name, Names())
	}
	for _, op := range o.Ops {
		if !slices.Contains(f.ops, op) {
			return nil, fmt.Errorf("workload %s has no op %q (its ops: %v)", name, op, f.ops)
		}
	}
	if len(o.Ops) > 0 && (!slices.Contains(o.Ops, "read") || len(o.Ops) < 2) {
		return nil, fmt.Errorf("workload %s needs read and an op that changes state, got %v", name, o.Ops)
	}
	return f.new(o), nil
}

// Names lists the workloads.
func Names() []string {
	var ns []string
	for n := range factories {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}
