package harness

import (
	"github.com/faultline-io/faultline/checker"
	"github.com/faultline-io/faultline/history"
	"github.com/faultline-io/faultline/store"
)

// CheckOps runs the named checkers over ops with opts (CheckerOptions).
func CheckOps(ops []history.Op, names []string, opts checker.Options) (checker.Results, error) {
	return checker.Run(names, ops, opts)
}

// CheckerOptions returns store.CheckerOptions for a test of cfg with the
// errors its target answers with (AnsweredErrors, for availability).
// outDir receives files such as Porcupine's visualization ("" for none).
func CheckerOptions(cfg store.Config, outDir string) checker.Options {
	return store.CheckerOptions(cfg, outDir, AnsweredErrors(cfg))
}
