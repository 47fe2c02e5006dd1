package report

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"
)

func TestWriteJUnitCountsAndEscapes(t *testing.T) {
	cases := []JUnitCase{
		{Class: "nightly.kill", Name: "seed-1", Time: 61 * time.Second, Output: "run directory: store/a"},
		{Class: "nightly.kill", Name: "seed-2", Time: 62500 * time.Millisecond, Failure: "anomaly found; expected valid",
			Detail: `linearizable false <key "k1">`},
		{Class: "nightly.stale", Name: "seed-1", Error: "cluster never became healthy"},
		{Class: "nightly.stale", Name: "seed-2", Skipped: "campaign interrupted"},
	}
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, "nightly", time.Date(2026, 11, 25, 1, 2, 3, 0, time.UTC), cases); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, `<key "k1">`) {
		t.Error("failure detail not escaped")
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Errors   int `xml:"errors,attr"`
		Skipped  int `xml:"skipped,attr"`
		Suite    struct {
			Time  string `xml:"time,attr"`
			Cases []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
					Body    string `xml:",chardata"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, out)
	}
	if doc.Tests != 4 || doc.Failures != 1 || doc.Errors != 1 || doc.Skipped != 1 || doc.Suite.Time != "123.500" {
		t.Errorf("counts = %+v", doc)
	}
	if f := doc.Suite.Cases[1].Failure; f == nil || f.Body != `linearizable false <key "k1">` || f.Message != "anomaly found; expected valid" {
		t.Errorf("failure = %+v", f)
	}
}
