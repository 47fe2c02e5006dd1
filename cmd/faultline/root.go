package main

import (
	"os"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"
)

// globals holds the flags every command shares and the logger built once.
type globals struct {
	verbose bool
	log     *zap.Logger
}

// logger returns the process logger, building it on first use: human-readable
// console output on stderr, debug level with --verbose.
func (g *globals) logger() *zap.Logger {
	if g.log != nil {
		return g.log
	}
	level := zapcore.InfoLevel
	if g.verbose {
		level = zapcore.DebugLevel
	}
	enc := zap.NewDevelopmentEncoderConfig()
	enc.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
	if term.IsTerminal(int(os.Stderr.Fd())) {
		enc.EncodeLevel = zapcore.CapitalColorLevelEncoder
	}
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.Lock(os.Stderr), level)
	g.log = zap.New(core)
	return g.log
}

func newRootCommand() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "faultline",
		Short:         "Chaos-testing harness and fault injector for distributed systems",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().BoolVarP(&g.verbose, "verbose", "v", false, "debug logging")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return badInputf("%v (see '%s --help')", err, c.CommandPath())
	})
	root.AddCommand(
		newRunCommand(g),
		newSimCommand(g),
		newShrinkCommand(g),
		newCheckCommand(g),
		newReportCommand(g),
		newReplayCommand(g),
		newCampaignCommand(g),
		newCompareCommand(g),
		newTargetsCommand(g),
		newNodeCommand(g),
		newDoctorCommand(g),
		newCleanCommand(g),
	)
	return root
}
