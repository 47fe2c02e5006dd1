package harness

import (
	"time"

	"github.com/faultline-io/faultline/checker"
	"github.com/faultline-io/faultline/history"
)

// CheckOps runs the named checkers over ops; outDir receives files such as
// Porcupine's visualization ("" for none).
func CheckOps(ops []history.Op, names []string, timeout time.Duration, outDir string) (checker.Results, error) {
	return checker.Run(names, ops, checker.Options{LinearizableOptions: checker.LinearizableOptions{
		Timeout: timeout, OutDir: outDir, MaxVisualizedOps: 2000,
	}})
}
