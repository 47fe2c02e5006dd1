package harness

import (
	"github.com/faultline-io/faultline/checker"
	"github.com/faultline-io/faultline/history"
	"github.com/faultline-io/faultline/targets"
	"github.com/faultline-io/faultline/workloads"
)

// CheckOps runs the named checkers over ops with opts (CheckerOptions).
func CheckOps(ops []history.Op, names []string, opts checker.Options) (checker.Results, error) {
	return checker.Run(names, ops, opts)
}

// CheckerOptions returns each checker's options for a test of cfg: the
// linearizable checker's timeout, the convergence checker's model (the
// workload) and quiet period, the bank's accounts and initial balance, and
// the errors the target answers with (for availability). outDir receives files such as Porcupine's visualization
// ("" for none). A target that is not registered answers with no errors.
func CheckerOptions(cfg Config, outDir string) checker.Options {
	var answered []string
	if t, err := targets.Get(cfg.Target); err == nil {
		answered = t.AnsweredErrors()
	}
	return checker.Options{
		Linearizable: checker.LinearizableOptions{Timeout: cfg.CheckerTimeout, OutDir: outDir, MaxVisualizedOps: 2000},
		Convergence:  checker.ConvergenceOptions{Model: cfg.Workload, Quiet: cfg.QuietPeriod},
		Stats:        checker.StatsOptions{AnsweredErrors: answered},
		Bank: checker.BankOptions{Accounts: workloads.BankAccounts, InitialBalance: workloads.BankInitialBalance,
			Timeout: cfg.CheckerTimeout},
	}
}
