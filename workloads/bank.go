package workloads

import (
	"math/rand"

	"github.com/faultline-io/faultline/history"
)

const (
	// BankAccounts is how many accounts the bank workload uses, numbered
	// 0..BankAccounts-1. Targets serving the workload create exactly these.
	BankAccounts = 8
	// BankInitialBalance is every account's balance at the start, so the
	// bank's total is always BankAccounts*BankInitialBalance.
	BankInitialBalance = 100
	// bankMaxAmount is the largest amount a transfer moves.
	bankMaxAmount = 5
)

// BankTransfer is the Value of a transfer invocation: move Amount from
// account From to account To.
type BankTransfer struct {
	From   int   `json:"from"`
	To     int   `json:"to"`
	Amount int64 `json:"amount"`
}

// Bank generates the ops of a bank: half reads of every balance (no key,
// no value; an ok read returns a JSON array of BankAccounts integers,
// indexed by account) and half transfers (Value a BankTransfer between two
// distinct accounts drawn uniformly, of 1 to 5). Ops carry no key: the
// bank is one object, checked as a whole.
//
// A worker's sequence is a function of its random source alone (the bank
// has no per-worker state), so a replay with the same seed repeats it.
type Bank struct{}

// NewBank returns a bank generator. The options have no bearing on it:
// it has no keys to rotate, and both of its ops are always needed.
func NewBank(Options) *Bank { return &Bank{} }

// Worker implements Generator.
func (*Bank) Worker(int) Stream { return bankStream{} }

// FinalReads implements Generator: one read of every balance.
func (*Bank) FinalReads() []history.Op {
	return []history.Op{{Type: history.Invoke, F: "read"}}
}

type bankStream struct{}

// Next implements Stream.
func (bankStream) Next(r *rand.Rand) history.Op {
	if r.Intn(2) == 0 {
		return history.Op{Type: history.Invoke, F: "read"}
	}
	from := r.Intn(BankAccounts)
	to := r.Intn(BankAccounts - 1)
	if to >= from {
		to++ // uniform over the accounts other than from
	}
	amount := int64(r.Intn(bankMaxAmount) + 1)
	return history.Op{Type: history.Invoke, F: "transfer",
		Value: history.MustValue(BankTransfer{From: from, To: to, Amount: amount})}
}
