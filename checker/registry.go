package checker

import (
	"encoding/json"
	"fmt"
	"runtime/debug"
	"slices"
	"sort"
	"sync"

	"github.com/faultline-io/faultline/history"
)

// Options configures the checkers that Run runs: each checker's options
// travel in its own field.
type Options struct {
	Linearizable LinearizableOptions
	Convergence  ConvergenceOptions
	Stats        StatsOptions
	Bank         BankOptions
}

// checkerFunc is one registered checker.
type checkerFunc func(ops []history.Op, opts Options) Result

var registry = map[string]checkerFunc{
	"linearizable": func(ops []history.Op, opts Options) Result {
		return CheckLinearizable(ops, opts.Linearizable)
	},
	"convergence": func(ops []history.Op, opts Options) Result { return CheckConvergence(ops, opts.Convergence) },
	"stats":       func(ops []history.Op, opts Options) Result { return CheckStats(ops, opts.Stats) },
	"bank":        func(ops []history.Op, opts Options) Result { return CheckBank(ops, opts.Bank) },
}

// Names returns the names Run accepts, sorted.
func Names() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Run runs the named checkers on ops, in the order given, and composes
// their results. An unknown or repeated name is an error, reported before
// any checker runs. A checker that panics yields an Unknown result whose
// Details hold the panic and its stack, as Jepsen turns a checker's
// exception into :valid? :unknown.
func Run(names []string, ops []history.Op, opts Options) (Results, error) {
	if len(names) == 0 {
		return Results{}, fmt.Errorf("checker: no checkers named (known: %v)", Names())
	}
	for i, n := range names {
		if _, ok := registry[n]; !ok {
			return Results{}, fmt.Errorf("checker: unknown checker %q (known: %v)", n, Names())
		}
		if slices.Contains(names[:i], n) {
			return Results{}, fmt.Errorf("checker: checker %q named twice", n)
		}
	}
	// The checkers only read ops, so they run at once: the cheap ones
	// (stats) finish while the search runs.
	rs := make([]Result, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Go(func() { rs[i] = runOne(n, registry[n], ops, opts) })
	}
	wg.Wait()
	return Compose(rs...), nil
}

func runOne(name string, check checkerFunc, ops []history.Op, opts Options) (r Result) {
	defer func() {
		if p := recover(); p != nil {
			details, _ := json.Marshal(map[string]string{
				"panic": fmt.Sprint(p),
				"stack": string(debug.Stack()),
			})
			r = Result{
				Checker: name,
				Valid:   Unknown,
				Summary: fmt.Sprintf("checker panicked: %v", p),
				Details: details,
			}
		}
	}()
	r = check(ops, opts)
	r.Checker = name
	return r
}
