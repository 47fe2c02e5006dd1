package workloads

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"reflect"
	"testing"

	"github.com/faultline-io/faultline/history"
)

func TestBankOpsAndMix(t *testing.T) {
	g, err := New("bank", Options{Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	s := g.Worker(0)
	r := rand.New(rand.NewSource(1))
	counts := map[string]int{}
	amounts := map[int64]int{}
	pairs := map[[2]int]int{}
	const n = 20000
	for range n {
		op := s.Next(r)
		if op.Type != history.Invoke || op.Key != "" {
			t.Fatalf("op %+v: want an invoke without a key", op)
		}
		counts[op.F]++
		switch op.F {
		case "read":
			if op.Value != nil {
				t.Fatalf("read carries a value: %s", op.Value)
			}
		case "transfer":
			var tr BankTransfer
			d := json.NewDecoder(bytes.NewReader(op.Value))
			d.DisallowUnknownFields()
			if err := d.Decode(&tr); err != nil {
				t.Fatalf("transfer value %s: %v", op.Value, err)
			}
			if tr.From < 0 || tr.From >= BankAccounts || tr.To < 0 || tr.To >= BankAccounts || tr.From == tr.To {
				t.Fatalf("transfer %s: want two distinct accounts in [0, %d)", op.Value, BankAccounts)
			}
			if tr.Amount < 1 || tr.Amount > 5 {
				t.Fatalf("transfer %s: want an amount in [1, 5]", op.Value)
			}
			amounts[tr.Amount]++
			pairs[[2]int{tr.From, tr.To}]++
		default:
			t.Fatalf("unexpected f %q", op.F)
		}
	}
	if counts["read"] < n*48/100 || counts["read"] > n*52/100 {
		t.Errorf("reads %d of %d, want about half", counts["read"], n)
	}
	for a := int64(1); a <= 5; a++ {
		if amounts[a] < counts["transfer"]/5*8/10 {
			t.Errorf("amount %d drawn %d times of %d transfers, want about a fifth: %v", a, amounts[a], counts["transfer"], amounts)
		}
	}
	// Every ordered pair of distinct accounts, about equally often.
	want := counts["transfer"] / (BankAccounts * (BankAccounts - 1))
	if len(pairs) != BankAccounts*(BankAccounts-1) {
		t.Errorf("%d distinct (from, to) pairs, want %d", len(pairs), BankAccounts*(BankAccounts-1))
	}
	for p, c := range pairs {
		if c < want*6/10 || c > want*14/10 {
			t.Errorf("pair %v drawn %d times, want about %d", p, c, want)
		}
	}
}

func TestBankFinalReads(t *testing.T) {
	g := NewBank(Options{})
	want := []history.Op{{Type: history.Invoke, F: "read"}}
	if got := g.FinalReads(); !reflect.DeepEqual(got, want) {
		t.Errorf("FinalReads() = %+v, want %+v", got, want)
	}
}

func TestBankIsDeterministic(t *testing.T) {
	draw := func(seed int64, w int) []history.Op {
		s := NewBank(Options{Workers: 4}).Worker(w)
		r := rand.New(rand.NewSource(seed))
		var ops []history.Op
		for range 200 {
			ops = append(ops, s.Next(r))
		}
		return ops
	}
	if a, b := draw(7, 1), draw(7, 1); !reflect.DeepEqual(a, b) {
		t.Error("the same seed gave different sequences")
	}
	if a, b := draw(7, 1), draw(8, 1); reflect.DeepEqual(a, b) {
		t.Error("different seeds gave the same sequence")
	}
	// Interleaving two workers' draws does not change either sequence.
	g := NewBank(Options{Workers: 2})
	s0, s1 := g.Worker(0), g.Worker(1)
	r0, r1 := rand.New(rand.NewSource(7)), rand.New(rand.NewSource(9))
	var a, b []history.Op
	for i := range 200 {
		a = append(a, s0.Next(r0))
		if i%3 == 0 {
			b = append(b, s1.Next(r1))
		}
	}
	if !reflect.DeepEqual(a, draw(7, 0)) {
		t.Error("worker 0's sequence depends on worker 1's progress")
	}
	if !reflect.DeepEqual(b, draw(9, 1)[:len(b)]) {
		t.Error("worker 1's sequence depends on worker 0's progress")
	}
}

func TestBankRegistered(t *testing.T) {
	if _, err := New("bank", Options{Ops: []string{"read", "transfer"}}); err != nil {
		t.Error(err)
	}
	if _, err := New("bank", Options{Ops: []string{"read", "write"}}); err == nil {
		t.Error("bank accepted op write")
	}
}
