package history

import (
	"bytes"
	"encoding/json"
	"testing"
)

// appendJSON promises encoding/json's field order and omissions; ops with
// and without each optional field, Final included, must encode the same
// both ways (modulo encoding/json's HTML escaping, which appendString
// leaves out and these strings avoid).
func TestAppendJSONMatchesMarshal(t *testing.T) {
	for _, op := range []Op{
		{Index: 0, Process: 0, Type: Invoke, F: "read", Time: 0},
		{Index: 3, Process: 7, Type: OK, F: "add", Key: "k1", Value: json.RawMessage(`-4`), Time: 12, Node: "n3"},
		{Index: 4, Process: 7, Type: Info, F: "remove", Key: "k1", Value: json.RawMessage(`9`), Time: 13, Node: "n1", Error: "timeout \"x\"\n"},
		{Index: 5, Process: Nemesis, Type: Info, F: "kill", Value: json.RawMessage(`{"nodes":["n1"]}`), Time: 99},
		{Index: 6, Process: 30000001, Type: Invoke, F: "read", Key: "k0", Time: 100, Final: "n2"},
		{Index: 7, Process: 30000001, Type: OK, F: "read", Key: "k0", Value: json.RawMessage(`[1,2,3]`), Time: 101, Node: "n2", Final: "n2"},
		{Index: 8, Process: 30000002, Type: Fail, F: "read", Key: "k0", Time: 102, Node: "n3", Error: "connection refused", Final: "n3"},
		{Index: 9, Process: 1, Type: OK, F: "read", Value: json.RawMessage(`null`), Time: 5, Final: "é 日本"},
	} {
		want, err := json.Marshal(op)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSON(nil, &op); !bytes.Equal(got, want) {
			t.Errorf("appendJSON\n %s\njson.Marshal\n %s", got, want)
		}
		var back Op
		if err := json.Unmarshal(want, &back); err != nil || back.Final != op.Final {
			t.Errorf("%s decodes with final %q (%v), want %q", want, back.Final, err, op.Final)
		}
	}
}
