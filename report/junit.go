package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"time"
)

// JUnitCase is one test case of a JUnit XML report. At most one of
// Failure, Error and Skipped is set: the message of how it did not pass.
type JUnitCase struct {
	Class, Name string
	Time        time.Duration
	Failure     string
	Error       string
	Skipped     string
	// Detail is the body of the failure or error element.
	Detail string
	// Output goes to system-out (e.g. the run directory).
	Output string
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Class   string        `xml:"classname,attr"`
	Name    string        `xml:"name,attr"`
	Time    string        `xml:"time,attr"`
	Failure *junitProblem `xml:"failure,omitempty"`
	Error   *junitProblem `xml:"error,omitempty"`
	Skipped *junitProblem `xml:"skipped,omitempty"`
	Out     string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Body    string `xml:",chardata"`
}

// WriteJUnit writes cases as one JUnit test suite named suite, the format
// CI systems (Jenkins, GitLab, GitHub test reporters) read. encoding/xml
// escapes every value.
func WriteJUnit(w io.Writer, suite string, started time.Time, cases []JUnitCase) error {
	s := junitSuite{Name: suite, Timestamp: started.UTC().Format("2006-01-02T15:04:05")}
	var total time.Duration
	for _, c := range cases {
		jc := junitCase{Class: c.Class, Name: c.Name, Time: fmtSeconds(c.Time), Out: c.Output}
		switch {
		case c.Failure != "":
			jc.Failure = &junitProblem{Message: c.Failure, Body: c.Detail}
			s.Failures++
		case c.Error != "":
			jc.Error = &junitProblem{Message: c.Error, Body: c.Detail}
			s.Errors++
		case c.Skipped != "":
			jc.Skipped = &junitProblem{Message: c.Skipped}
			s.Skipped++
		}
		total += c.Time
		s.Cases = append(s.Cases, jc)
	}
	s.Tests, s.Time = len(cases), fmtSeconds(total)
	doc := junitSuites{Name: suite, Tests: s.Tests, Failures: s.Failures, Errors: s.Errors, Skipped: s.Skipped,
		Time: s.Time, Suites: []junitSuite{s}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("report: junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func fmtSeconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }
