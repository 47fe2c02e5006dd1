package history

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strconv"
	"testing"
)

func benchOp(i int) Op {
	typ := Invoke
	if i%2 == 1 {
		typ = OK
	}
	return Op{Process: Process(i % 10), Type: typ, F: "write", Key: "k" + strconv.Itoa(i%10),
		Value: json.RawMessage(strconv.Itoa(i % 5)), Time: int64(i) * 1000, Node: "n2"}
}

// BenchmarkRecorderAppend measures Append from one goroutine, including the
// background writes and fsyncs and the final Close.
func BenchmarkRecorderAppend(b *testing.B) {
	r, err := NewRecorder(filepath.Join(b.TempDir(), "history.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	op := benchOp(1)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.Append(op); err != nil {
			b.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkRecorderAppendParallel measures Append from GOMAXPROCS goroutines.
func BenchmarkRecorderAppendParallel(b *testing.B) {
	r, err := NewRecorder(filepath.Join(b.TempDir(), "history.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		op := benchOp(3)
		for pb.Next() {
			if _, err := r.Append(op); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if err := r.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkRead measures reading a 100,000-op history.
func BenchmarkRead(b *testing.B) {
	var buf bytes.Buffer
	const n = 100000
	for i := range n {
		op := benchOp(i)
		op.Index = int64(i)
		buf.Write(appendJSON(nil, &op))
		buf.WriteByte('\n')
	}
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		ops, err := Read(bytes.NewReader(buf.Bytes()))
		if err != nil || len(ops) != n {
			b.Fatal(len(ops), err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}
