// Package workloads holds operation generators. Generators are pure: they take
// a random source explicitly and never read the clock, so they are tested
// without a cluster. They decide what to ask; target clients decide how.
package workloads

import (
	"fmt"
	"math/rand"
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
	// Checkers names the checkers that apply to histories of this workload.
	Checkers() []string
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
}

// DefaultOptions are the options the CLI uses.
func DefaultOptions() Options { return Options{Keys: 5, OpsPerKey: 400} }

var factories = map[string]func(Options) Generator{
	"register": func(o Options) Generator { return NewRegister(o) },
}

// New returns the generator of the named workload.
func New(name string, o Options) (Generator, error) {
	f, ok := factories[name]
	if !ok {
		return nil, fmt.Errorf("unknown workload %q (known: %v)", name, Names())
	}
	return f(o), nil
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
