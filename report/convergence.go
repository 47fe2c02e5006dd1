package report

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/faultline-io/faultline/checker"
)

// maxConvKeys caps the failing and the incomplete keys the report shows
// of a convergence result (results.json keeps up to 100 of each).
const maxConvKeys = 20

// convergenceView is the convergence checker's result as the page shows
// it. Keys, nodes, states and op values come from the history: the
// template escapes them.
type convergenceView struct {
	Verdict    string
	Model      string
	Keys       int
	Nodes      string
	FinalReads int
	// Time is the convergence time (heal to agreement); empty when the
	// nodes never agreed. NoTime says why.
	Time, NoTime string
	// From names what Time counts from; At is when the nodes agreed.
	From, At string
	Quiet    string
	// FailingKeys counts every failing key; Failures are the first
	// maxConvKeys, earliest anomaly first.
	FailingKeys    int
	Failures       []convFailureView
	IncompleteKeys int
	Incomplete     []convIncompleteView
	// DetailsError says why the details could not be read.
	DetailsError string
}

type convFailureView struct {
	Key      string
	States   []convStateRow
	Problems []convProblemView
}

type convStateRow struct {
	Node, State string
	Missing     bool // no ok final read on the node
}

type convProblemView struct {
	Kind, Reason string
	Ops          []convOpRow
	OmittedOps   int
}

type convOpRow struct {
	Role, F, Type, Process, Node, Final, Value string
	Invoke, Complete, Index                    string
}

type convIncompleteView struct {
	Key, Missing string
}

func convergenceOf(r checker.Result) convergenceView {
	v := convergenceView{Verdict: r.Valid.String()}
	var d checker.ConvergenceDetails
	if err := json.Unmarshal(r.Details, &d); err != nil {
		v.DetailsError = err.Error()
		return v
	}
	v.Model, v.Keys, v.Nodes, v.FinalReads, v.Quiet = d.Model, d.Keys, strings.Join(d.Nodes, " "), d.FinalReads, d.Quiet
	switch {
	case d.HealTime != nil:
		v.From = "heal at " + secs(*d.HealTime)
	case d.FinalReads > 0 || len(d.Nodes) > 0:
		v.From = "the first final read at " + secs(d.FinalPhaseStart)
	}
	switch {
	case d.ConvergenceNanos != nil:
		v.Time = secs(*d.ConvergenceNanos)
		if d.ConvergedAt != nil {
			v.At = secs(*d.ConvergedAt)
		}
	case len(d.Nodes) == 0:
		v.NoTime = "no final reads"
	default:
		v.NoTime = "the nodes never agreed"
	}

	v.FailingKeys = d.FailingKeys
	for _, f := range d.Failures[:min(len(d.Failures), maxConvKeys)] {
		v.Failures = append(v.Failures, convFailure(f, d.Nodes))
	}
	v.IncompleteKeys = d.IncompleteKeys
	for _, in := range d.Incomplete[:min(len(d.Incomplete), maxConvKeys)] {
		v.Incomplete = append(v.Incomplete, convIncompleteView{Key: in.Key, Missing: strings.Join(in.Missing, " ")})
	}
	return v
}

// convFailure lists the state of every node, those without an ok final
// read of the key included.
func convFailure(f checker.ConvergenceFailure, nodes []string) convFailureView {
	fv := convFailureView{Key: f.Key}
	all := slices.Sorted(maps.Keys(f.States))
	for _, n := range nodes {
		if _, ok := f.States[n]; !ok {
			all = append(all, n)
		}
	}
	slices.Sort(all)
	for _, n := range slices.Compact(all) {
		s, ok := f.States[n]
		fv.States = append(fv.States, convStateRow{Node: n, State: jsonText(s), Missing: !ok})
	}
	for _, p := range f.Problems {
		pv := convProblemView{Kind: p.Kind, Reason: p.Reason, OmittedOps: p.OmittedOps}
		for _, o := range p.Ops {
			pv.Ops = append(pv.Ops, convOp(o))
		}
		fv.Problems = append(fv.Problems, pv)
	}
	return fv
}

func convOp(o checker.ConvergenceOp) convOpRow {
	row := convOpRow{Role: o.Role, F: o.F, Type: o.Type, Process: o.Process, Node: o.Node, Final: o.Final,
		Value: jsonText(o.Value), Invoke: secs(o.Invoke), Complete: "never", Index: strconv.FormatInt(o.InvokeIndex, 10)}
	if o.Complete != nil {
		row.Complete = secs(*o.Complete)
	}
	if o.CompleteIndex >= 0 {
		row.Index += ", " + strconv.FormatInt(o.CompleteIndex, 10)
	}
	return row
}

// jsonText is v as compact JSON without encoding/json's \u003c-style
// escapes of <, > and &, so that a value reads as the history wrote it;
// the template escapes it for HTML. Anything that does not decode is
// shown verbatim.
func jsonText(v json.RawMessage) string {
	if len(v) == 0 {
		return ""
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return string(v)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(x); err != nil {
		return string(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
