package history

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func checkOps(t *testing.T, got, want []Op) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d ops, want %d:\n%+v", len(got), len(want), got)
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("op %d:\n got  %+v\n want %+v", i, got[i], want[i])
		}
	}
}

func TestReadJepsenEDN(t *testing.T) {
	in := `{:process 0, :type :invoke, :f :cas, :value [1 2]}
{:process 0, :type :ok, :f :cas, :value [1 2], :time 123}

{:type :invoke, :f :write, :value 3, :process 1, :key "k1", :node "n1"}
{:type :info, :f :write, :value :timed-out, :process 1, :key :k1}
; a comment line
{:process :nemesis, :type :info, :f :start, :value {:n1 #{:n2 :n3}, "n4" nil}}
{:process 2, :type :invoke, :f :read, :value nil, :extra (1 2.5 "s\"q") #_ :ignored}
{:process 2, :type :fail, :f :read, :value nil, :error [:not-leader "n2"]}
#jepsen.history.Op{:process 3, :type :invoke, :f :txn, :value [[:r 1 nil] [:w 1 12345678901234567890]]}
{:process 3, :type :info, :f :txn, :value [[:r 1 nil]], :error :timed-out}
`
	ops, err := ReadJepsen(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Op{
		{Index: 0, Process: 0, Type: Invoke, F: "cas", Value: raw(`[1,2]`), Time: 0},
		{Index: 1, Process: 0, Type: OK, F: "cas", Value: raw(`[1,2]`), Time: 123},
		{Index: 2, Process: 1, Type: Invoke, F: "write", Key: "k1", Value: raw(`3`), Time: 3000, Node: "n1"},
		{Index: 3, Process: 1, Type: Info, F: "write", Key: "k1", Time: 4000, Error: "timed-out"},
		{Index: 4, Process: Nemesis, Type: Info, F: "start", Value: raw(`{"n1":["n2","n3"],"n4":null}`), Time: 6000},
		{Index: 5, Process: 2, Type: Invoke, F: "read", Value: raw(`null`), Time: 7000},
		{Index: 6, Process: 2, Type: Fail, F: "read", Value: raw(`null`), Time: 8000, Error: `[:not-leader "n2"]`},
		{Index: 7, Process: 3, Type: Invoke, F: "txn", Value: raw(`[["r",1,null],["w",1,12345678901234567890]]`), Time: 9000},
		{Index: 8, Process: 3, Type: Info, F: "txn", Value: raw(`[["r",1,null]]`), Time: 10000, Error: "timed-out"},
	}
	checkOps(t, ops, want)
	for _, op := range ops {
		if op.Value != nil && !json.Valid(op.Value) {
			t.Errorf("op %d value %s is not JSON", op.Index, op.Value)
		}
	}
}

func TestReadJepsenEDNIndexAndVector(t *testing.T) {
	// Given indices are kept; a top-level vector spanning lines is read.
	in := "[{:index 7, :time 5, :process 0, :type :invoke, :f :read}\n {:index 8, :time 9,\n  :process 0, :type :ok, :f :read, :value 4}]\n"
	ops, err := ReadJepsen(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	checkOps(t, ops, []Op{
		{Index: 7, Process: 0, Type: Invoke, F: "read", Time: 5},
		{Index: 8, Process: 0, Type: OK, F: "read", Value: raw(`4`), Time: 9},
	})
}

func TestReadJepsenEDNErrors(t *testing.T) {
	cases := map[string]string{
		"bad type":      `{:process 1, :type :done, :f :read}`,
		"bad process":   `{:process -1, :type :invoke, :f :read}`,
		"no f":          `{:process 1, :type :invoke}`,
		"not a map":     `[1 2 3]`,
		"odd map":       `{:process 1, :type :invoke, :f}`,
		"unclosed":      `{:process 1, :type :invoke, :f :read, :value [1 2}`,
		"bad time":      `{:process 1, :type :invoke, :f :read, :time "soon"}`,
		"bad string":    `{:process 1, :type :invoke, :f :read, :value "a\qb"}`,
		"negative time": `{:process 1, :type :invoke, :f :read, :time -4}`,
	}
	for name, bad := range cases {
		in := "{:process 0, :type :invoke, :f :read}\n{:process 0, :type :ok, :f :read, :value 1}\n" + bad + "\n{:process 0, :type :invoke, :f :read}\n"
		_, err := ReadJepsen(strings.NewReader(in))
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Line != 3 {
			t.Errorf("%s: err = %v, want *ParseError at line 3", name, err)
			continue
		}
		t.Logf("%s: %v", name, err)
	}
	// A torn last form is ignored.
	ops, err := ReadJepsen(strings.NewReader("{:process 0, :type :invoke, :f :read}\n{:process 0, :type :ok, :f :re"))
	if err != nil || len(ops) != 1 {
		t.Errorf("torn EDN: %d ops, err %v; want 1 op", len(ops), err)
	}
}

func TestReadJepsenLog(t *testing.T) {
	in := strings.Join([]string{
		`INFO  jepsen.core - Running test with options {:concurrency 5`,
		` :nodes ["n1" "n2"]}`,
		`INFO  jepsen.util - 3 :invoke :write 4`,
		`INFO  jepsen.util - 3	:ok	:write	4`,
		`INFO  jepsen.util - 2	:invoke	:cas	[1 2]`,
		`INFO  jepsen.util - 2 :info :cas [1 2] :timed-out`,
		`2017-01-01 12:00:00,123{GMT}	INFO	[jepsen worker 3] jepsen.util - 7	:invoke	:read	nil`,
		`2017-01-01 12:00:00,125{GMT}	INFO	[jepsen worker 3] jepsen.util - 7	:ok	:read	nil`,
		`INFO  jepsen.util - :nemesis :info :start nil`,
		`INFO [2024-01-06 15:07:52,664] jepsen worker 0 - jepsen.util 0	:invoke	:read	nil`,
		`2025-01-20 12:08:03,850{GMT}	INFO	[jepsen worker 0] jepsen.util: 0	:fail	:read	:timed-out`,
		`INFO  jepsen.util - 1	:info	:write	:timed-out`,
		`INFO  jepsen.util - :nemesis	:info	:stop	"fully connected"`,
		`INFO  jepsen.util - 4	:ok	:read	{:type "echo_ok", :in_reply_to 1}`,
		`INFO  jepsen.util - 4	:info	:write	3	indeterminate: Read timed out`,
		`INFO  jepsen.util - Relative time begins now`,
		`WARN  jepsen.core - Process 3 crashed`,
		`INFO  jepsen.util - :nemesis	:info	:start	#<Cut off {:n1 #{:n2}}>`,
	}, "\n")
	ops, err := ReadJepsen(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Op{
		{Index: 0, Process: 3, Type: Invoke, F: "write", Value: raw(`4`), Time: 2000},
		{Index: 1, Process: 3, Type: OK, F: "write", Value: raw(`4`), Time: 3000},
		{Index: 2, Process: 2, Type: Invoke, F: "cas", Value: raw(`[1,2]`), Time: 4000},
		{Index: 3, Process: 2, Type: Info, F: "cas", Value: raw(`[1,2]`), Time: 5000, Error: "timed-out"},
		{Index: 4, Process: 7, Type: Invoke, F: "read", Value: raw(`null`), Time: 6000},
		{Index: 5, Process: 7, Type: OK, F: "read", Value: raw(`null`), Time: 7000},
		{Index: 6, Process: Nemesis, Type: Info, F: "start", Value: raw(`null`), Time: 8000},
		{Index: 7, Process: 0, Type: Invoke, F: "read", Value: raw(`null`), Time: 9000},
		{Index: 8, Process: 0, Type: Fail, F: "read", Time: 10000, Error: "timed-out"},
		{Index: 9, Process: 1, Type: Info, F: "write", Time: 11000, Error: "timed-out"},
		{Index: 10, Process: Nemesis, Type: Info, F: "stop", Value: raw(`"fully connected"`), Time: 12000},
		{Index: 11, Process: 4, Type: OK, F: "read", Value: raw(`{"type":"echo_ok","in_reply_to":1}`), Time: 13000},
		{Index: 12, Process: 4, Type: Info, F: "write", Value: raw(`3`), Time: 14000, Error: "indeterminate: Read timed out"},
		{Index: 13, Process: Nemesis, Type: Info, F: "start", Value: raw(`"#<Cut off {:n1 #{:n2}}>"`), Time: 17000},
	}
	checkOps(t, ops, want)
}

func TestReadJepsenLogBadLine(t *testing.T) {
	in := "INFO  jepsen.util - 3 :invoke :write 4\nINFO  jepsen.core - hello\nINFO  jepsen.util - 3 :done :write 4\n"
	_, err := ReadJepsen(strings.NewReader(in))
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 3 || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("err = %v, want *ParseError at line 3", err)
	}
	in = "INFO  jepsen.util - 3 :invoke :cas [1 2\n"
	if _, err := ReadJepsen(strings.NewReader(in)); !errors.As(err, &pe) || pe.Line != 1 {
		t.Fatalf("unreadable value: err = %v, want *ParseError at line 1", err)
	}
}

func TestReadJepsenNotJepsen(t *testing.T) {
	if _, err := ReadJepsen(strings.NewReader("hello\nworld\n")); err == nil {
		t.Error("plain text accepted as a Jepsen history")
	}
	ops, err := ReadJepsen(strings.NewReader("\n  \n"))
	if err != nil || len(ops) != 0 {
		t.Errorf("blank input: %d ops, err %v", len(ops), err)
	}
}
