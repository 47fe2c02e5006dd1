package campaignrun

import (
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/faultline-io/faultline/report"
)

// Program is the command name a reproduce command starts with.
const Program = "faultline"

// verdicts in the order the summary counts them.
var verdicts = []Verdict{VerdictValid, VerdictAnomaly, VerdictUnknown, VerdictError, VerdictNotStarted}

// Counts are a result's runs by verdict and by outcome.
type Counts struct {
	Total     int
	ByVerdict map[Verdict]int
	ByOutcome map[Outcome]int
}

// Count counts recs by verdict and by outcome.
func Count(recs []Record) Counts {
	c := Counts{Total: len(recs), ByVerdict: map[Verdict]int{}, ByOutcome: map[Outcome]int{}}
	for _, r := range recs {
		c.ByVerdict[r.Verdict]++
		c.ByOutcome[r.Outcome]++
	}
	return c
}

// Line is the one-line tally: "9 runs: 7 as expected, 1 not as expected,
// 0 unknown, 0 errors, 1 not started".
func (c Counts) Line() string {
	return fmt.Sprintf("%d runs: %d as expected, %d not as expected, %d unknown, %d errors, %d not started",
		c.Total, c.ByOutcome[OutcomeAsExpected], c.ByOutcome[OutcomeNotAsExpected], c.ByOutcome[OutcomeUnknown],
		c.ByOutcome[OutcomeError], c.ByOutcome[OutcomeNotStarted])
}

// ExitMeaning says what a campaign exit code means.
func ExitMeaning(code int) string {
	switch code {
	case ExitValid:
		return "every run as expected"
	case ExitAnomaly:
		return "some run not as expected"
	case ExitUnknown:
		return "some verdict unknown or some run not started"
	case ExitInternal:
		return "some run failed to run"
	}
	return ""
}

// ReplayCommand is the command that runs a recorded run again
// ('faultline replay DIR'), or nil when the run has no directory.
func ReplayCommand(rec Record) []string {
	if rec.Dir == "" {
		return nil
	}
	return []string{Program, "replay", rec.Dir}
}

// RunCommand is the 'faultline run' command line that repeats rec from
// scratch, or nil when the result does not know it.
func RunCommand(rec Record) []string {
	if len(rec.Command) == 0 {
		return nil
	}
	return append([]string{Program, "run"}, rec.Command...)
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:=,@%+-]+$`)

// ShellJoin joins args into a POSIX shell command line, single-quoting
// every argument that needs it.
func ShellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if shellSafe.MatchString(a) {
			out[i] = a
		} else {
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}

var outcomeText = map[Outcome]string{
	OutcomeAsExpected:    "✅ as expected",
	OutcomeNotAsExpected: "❌ not as expected",
	OutcomeUnknown:       "❔ unknown",
	OutcomeError:         "💥 error",
	OutcomeNotStarted:    "⏭️ not started",
}

// cell makes s safe inside a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.Join(strings.Fields(s), " ")
}

// WriteSummary writes r as Markdown for a CI job's summary page (GitHub's
// $GITHUB_STEP_SUMMARY): a heading with the worst outcome, counts by
// verdict, a table of every run, for each run not as expected, unknown or
// failed its problem, checkers and the commands that reproduce it
// ('faultline replay <run dir>' and the equivalent 'faultline run ...'),
// and the runs that were not started, with why.
func WriteSummary(w io.Writer, r Result) error {
	var b strings.Builder
	c := Count(r.Runs)
	code := ExitCode(r.Runs)
	head := fmt.Sprintf("every run as expected (%d)", c.Total)
	var parts []string
	for _, o := range []struct {
		o    Outcome
		what string
	}{{OutcomeNotAsExpected, "not as expected"}, {OutcomeUnknown, "unknown"}, {OutcomeError, "failed to run"},
		{OutcomeNotStarted, "not started"}} {
		if n := c.ByOutcome[o.o]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, o.what))
		}
	}
	if len(parts) > 0 {
		head = fmt.Sprintf("%s (of %d runs)", strings.Join(parts, ", "), c.Total)
	}
	fmt.Fprintf(&b, "## Campaign %s: %s\n\n", cell(r.Campaign), head)
	switch {
	case len(r.Sources) > 0:
		fmt.Fprintf(&b, "Merged from %d result file(s): %s.\n", len(r.Sources), codeList(r.Sources))
	case !r.Shard.Whole():
		fmt.Fprintf(&b, "Shard %s: %d of the campaign's %d runs.\n", r.Shard, len(r.Runs), len(r.Plan))
	}
	if r.File != "" {
		fmt.Fprintf(&b, "Campaign file `%s` (%s).", r.File, shortDigest(r.Digest))
	}
	if !r.Started.IsZero() && !r.Finished.IsZero() {
		fmt.Fprintf(&b, " Started %s UTC, took %v.", r.Started.UTC().Format("2006-01-02 15:04:05"),
			r.Finished.Sub(r.Started).Round(time.Second))
	}
	b.WriteString("\n")
	if r.Stopped != "" {
		fmt.Fprintf(&b, "\n**Stopped early:** %s.\n", r.Stopped)
	}
	fmt.Fprintf(&b, "\n**Exit code %d:** %s.\n\n", code, ExitMeaning(code))

	b.WriteString("| verdict | runs |\n|---|--:|\n")
	for _, v := range verdicts {
		fmt.Fprintf(&b, "| %s | %d |\n", strings.ReplaceAll(string(v), "-", " "), c.ByVerdict[v])
	}
	fmt.Fprintf(&b, "| **total** | **%d** |\n\n", c.Total)
	fmt.Fprintf(&b, "%s.\n\n", c.Line())

	b.WriteString("### Runs\n\n| # | test | seed | expected | verdict | outcome | time | run directory |\n|--:|---|--:|---|---|---|--:|---|\n")
	for _, rec := range r.Runs {
		dir := ""
		if rec.Dir != "" {
			dir = "`" + cell(rec.Dir) + "`"
		}
		dur := ""
		if rec.Outcome != OutcomeNotStarted {
			dur = rec.Duration.Round(time.Second).String()
		}
		fmt.Fprintf(&b, "| %d | %s | %d | %s | %s | %s | %s | %s |\n", rec.Index+1, cell(rec.Test), rec.Seed,
			rec.Expect, strings.ReplaceAll(string(rec.Verdict), "-", " "), outcomeText[rec.Outcome], dur, dir)
	}

	var unexpected, notStarted []Record
	for _, rec := range r.Runs {
		switch {
		case rec.Outcome == OutcomeNotStarted:
			notStarted = append(notStarted, rec)
		case rec.Unexpected():
			unexpected = append(unexpected, rec)
		}
	}
	if len(unexpected) > 0 {
		b.WriteString("\n### Not as expected, unknown or failed: how to reproduce\n")
		for _, rec := range unexpected {
			fmt.Fprintf(&b, "\n#### %s: %s\n", cell(rec.Label()), cell(rec.Problem))
			var items []string
			for _, l := range strings.Split(rec.Detail, "\n") {
				if l = strings.TrimSpace(l); l != "" {
					items = append(items, "- "+cell(l)+"\n")
				}
			}
			if rec.Report != "" {
				items = append(items, "- report: `"+cell(rec.Report)+"`\n")
			}
			if len(items) > 0 {
				b.WriteString("\n" + strings.Join(items, ""))
			}
			replay, run := ReplayCommand(rec), RunCommand(rec)
			if replay == nil && run == nil {
				b.WriteString("\nNo command recorded to reproduce this run.\n")
				continue
			}
			b.WriteString("\n```sh\n")
			if replay != nil {
				fmt.Fprintf(&b, "%s\n", ShellJoin(replay))
			}
			if run != nil {
				if replay != nil {
					b.WriteString("# or, from scratch in the directory the campaign ran in:\n")
				}
				fmt.Fprintf(&b, "%s\n", ShellJoin(run))
			}
			b.WriteString("```\n")
		}
	}
	if len(notStarted) > 0 {
		fmt.Fprintf(&b, "\n### Not started (%d)\n\n", len(notStarted))
		for _, rec := range notStarted {
			fmt.Fprintf(&b, "- %s: %s\n", cell(rec.Label()), cell(rec.Problem))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func codeList(xs []string) string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = "`" + cell(x) + "`"
	}
	return strings.Join(out, ", ")
}

func shortDigest(d string) string {
	if len(d) > len("sha256:")+12 {
		return d[:len("sha256:")+12]
	}
	return d
}

// JUnitCases returns one JUnit test case per record of r: class
// "<campaign>.<test>", name "seed-<n>". A run not as expected is a
// failure, an unknown or failed one an error, a run not started skipped;
// the body names the run directory and the commands that reproduce it.
func JUnitCases(r Result) []report.JUnitCase {
	cases := make([]report.JUnitCase, 0, len(r.Runs))
	for _, rec := range r.Runs {
		jc := report.JUnitCase{Class: r.Campaign + "." + rec.Test, Name: fmt.Sprintf("seed-%d", rec.Seed), Time: rec.Duration}
		var out []string
		if rec.Dir != "" {
			out = append(out, "run directory: "+rec.Dir)
		}
		if rec.Report != "" {
			out = append(out, "report: "+rec.Report)
		}
		if cmd := ReplayCommand(rec); cmd != nil {
			out = append(out, "replay: "+ShellJoin(cmd))
		}
		if cmd := RunCommand(rec); cmd != nil {
			out = append(out, "run: "+ShellJoin(cmd))
		}
		jc.Output = strings.Join(out, "\n")
		detail := strings.TrimSpace(strings.TrimSpace(rec.Detail) + "\n" + jc.Output)
		switch rec.Outcome {
		case OutcomeNotAsExpected:
			jc.Failure, jc.Detail = rec.Problem, detail
		case OutcomeUnknown:
			jc.Error, jc.Detail = rec.Problem, detail
		case OutcomeError:
			jc.Error, jc.Detail = "run failed", strings.TrimSpace(rec.Problem+"\n"+detail)
		case OutcomeNotStarted:
			jc.Skipped = rec.Problem
		}
		cases = append(cases, jc)
	}
	return cases
}

// WriteJUnit writes r as a JUnit XML report (JUnitCases), one test suite
// named after the campaign.
func WriteJUnit(w io.Writer, r Result) error {
	return report.WriteJUnit(w, r.Campaign, r.Started, JUnitCases(r))
}
