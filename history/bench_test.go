package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
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

// genHistory returns n ops as JSONL, in the shapes the harness writes:
// register reads, writes and cas ([from, to]), bank transfers (objects) and
// reads (arrays), nemesis events, errors on info completions and final reads.
// The same seed gives the same bytes.
func genHistory(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 0))
	buf := make([]byte, 0, n*96)
	var t int64
	for i := range n {
		t += rng.Int64N(2_000_000)
		op := Op{Index: int64(i), Process: Process(rng.IntN(50)), Time: t}
		if i%2 == 0 {
			op.Type = Invoke
		} else {
			op.Type = [...]Type{OK, OK, OK, OK, OK, Fail, Info}[rng.IntN(7)]
		}
		switch r := rng.IntN(100); {
		case r < 35:
			op.F, op.Key = "read", "k"+strconv.Itoa(rng.IntN(16))
			if op.Type == OK {
				if rng.IntN(8) == 0 {
					op.Value = json.RawMessage("null")
				} else {
					op.Value = MustValue(rng.IntN(1000))
				}
			}
		case r < 65:
			op.F, op.Key, op.Value = "write", "k"+strconv.Itoa(rng.IntN(16)), MustValue(rng.IntN(1000))
		case r < 80:
			op.F, op.Key, op.Value = "cas", "k"+strconv.Itoa(rng.IntN(16)), MustValue([2]int{rng.IntN(1000), rng.IntN(1000)})
		case r < 90:
			op.F = "transfer"
			op.Value = MustValue(map[string]int64{"from": rng.Int64N(5), "to": rng.Int64N(5), "amount": rng.Int64N(100)})
		case r < 98:
			op.F = "read"
			if op.Type == OK {
				op.Value = MustValue([]int{rng.IntN(100), rng.IntN(100), rng.IntN(100), rng.IntN(100), rng.IntN(100)})
			}
		default:
			op.Process, op.Type, op.F = Nemesis, Info, "partition"
			op.Value = MustValue(map[string][]string{"n1": {"n2", "n3"}, "n2": {"n1"}, "n3": {"n1"}})
		}
		if op.Type != Invoke && !op.IsNemesis() {
			op.Node = "n" + strconv.Itoa(1+rng.IntN(5))
		}
		if op.Type == Info && !op.IsNemesis() {
			op.Error = "context deadline exceeded"
		}
		if op.Type == OK && op.F == "read" && rng.IntN(200) == 0 {
			op.Final = op.Node
		}
		buf = append(appendJSON(buf, &op), '\n')
	}
	return buf
}

// readReference is the reader before the hand-written decoder: each line
// decoded by encoding/json, then checked. It keeps the line-number and
// torn-last-line rules of Read and serves as the oracle of the tests and
// the baseline of BenchmarkReadFile1M.
func readReference(in []byte) ([]Op, error) {
	var ops []Op
	lineNo := 0
	for len(in) > 0 {
		var l []byte
		complete := false
		if i := bytes.IndexByte(in, '\n'); i >= 0 {
			l, in, complete = in[:i], in[i+1:], true
		} else {
			l, in = in, nil
		}
		lineNo++
		l = bytes.TrimSpace(l)
		if len(l) == 0 {
			continue
		}
		var op Op
		err := json.Unmarshal(l, &op)
		if err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) && !complete && (len(ops) > 0 || startsLikeRecord(l)) {
				break
			}
			return ops, &ParseError{Line: lineNo, Msg: err.Error()}
		}
		if msg := op.check(); msg != "" {
			return ops, &ParseError{Line: lineNo, Msg: msg}
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// BenchmarkReadFile1M reads a generated 1,000,000-op history (~94 MB) from
// a file with ReadFile, and the same bytes with encoding/json line by line
// (the baseline), reporting MB/s and ops/s.
func BenchmarkReadFile1M(b *testing.B) {
	const n = 1_000_000
	data := genHistory(n, 1)
	path := filepath.Join(b.TempDir(), "history.jsonl")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d ops, %.1f MB", n, float64(len(data))/1e6)
	for _, c := range []struct {
		name string
		read func() ([]Op, error)
	}{
		{"encoding-json", func() ([]Op, error) { return readReference(data) }},
		{"ReadFile", func() ([]Op, error) { return ReadFile(path) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				ops, err := c.read()
				if err != nil || len(ops) != n {
					b.Fatal(len(ops), err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "ops/s")
			// CPU time of the process (every goroutine, the collector's
			// too): steadier than the wall clock on a busy machine.
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime returns the user and system CPU time of the process so far, in
// nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
