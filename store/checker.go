package store

import (
	"github.com/faultline-io/faultline/checker"
	"github.com/faultline-io/faultline/workloads"
)

// CheckerOptions returns each checker's options for a test of cfg: the
// linearizable checker's timeout and memory budget, the convergence
// checker's model (the workload) and quiet period, the bank's accounts,
// initial balance, timeout and memory budget, and answeredErrors, the
// errors cfg.Target answers with (targets.Target.AnsweredErrors), for
// availability. outDir receives files such as Porcupine's visualization
// ("" for none).
func CheckerOptions(cfg Config, outDir string, answeredErrors []string) checker.Options {
	return checker.Options{
		Linearizable: checker.LinearizableOptions{Timeout: cfg.CheckerTimeout, OutDir: outDir, MaxVisualizedOps: 2000,
			MemoryBudget: cfg.CheckerMemory},
		Convergence: checker.ConvergenceOptions{Model: cfg.Workload, Quiet: cfg.QuietPeriod},
		Stats:       checker.StatsOptions{AnsweredErrors: answeredErrors},
		Bank: checker.BankOptions{Accounts: workloads.BankAccounts, InitialBalance: workloads.BankInitialBalance,
			Timeout: cfg.CheckerTimeout, MemoryBudget: cfg.CheckerMemory},
	}
}
