package raft

import (
	"encoding/json"
	"fmt"
	"maps"
)

// command is the payload of a log entry: a write or a compare-and-set.
type command struct {
	Op    string `json:"op"` // "write" or "cas"
	Key   string `json:"key"`
	Value int64  `json:"value,omitempty"` // write
	From  int64  `json:"from,omitempty"`  // cas
	To    int64  `json:"to,omitempty"`    // cas
}

func (c command) encode() []byte {
	b, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("raft: encode command: %v", err)) // plain struct: cannot fail
	}
	return b
}

func decodeCommand(b []byte) (command, error) {
	var c command
	if err := json.Unmarshal(b, &c); err != nil {
		return c, err
	}
	if c.Op != "write" && c.Op != "cas" {
		return c, fmt.Errorf("unknown command op %q", c.Op)
	}
	return c, nil
}

// applyResult is the outcome of applying a command. Every replica computes
// the same result for the same entry, so whichever node applies it can
// answer the client.
type applyResult struct {
	ok bool
	// cur is the value the key held when a cas did not match (nil: absent).
	cur *int64
}

// kvStore is the replicated state machine: a map from key to integer.
type kvStore struct {
	m map[string]int64
}

func newKV() *kvStore { return &kvStore{m: map[string]int64{}} }

func (s *kvStore) clone() *kvStore { return &kvStore{m: maps.Clone(s.m)} }

func (s *kvStore) read(key string) (int64, bool) {
	v, ok := s.m[key]
	return v, ok
}

// apply executes c. A cas whose key is absent or holds another value than
// From fails and changes nothing.
func (s *kvStore) apply(c command) applyResult {
	switch c.Op {
	case "write":
		s.m[c.Key] = c.Value
		return applyResult{ok: true}
	case "cas":
		cur, ok := s.m[c.Key]
		if !ok {
			return applyResult{}
		}
		if cur != c.From {
			return applyResult{cur: &cur}
		}
		s.m[c.Key] = c.To
		return applyResult{ok: true}
	}
	return applyResult{}
}

// snapshot encodes the state (keys in order, so equal states give equal
// bytes).
func (s *kvStore) snapshot() []byte {
	b, err := json.Marshal(s.m)
	if err != nil {
		panic(fmt.Sprintf("raft: encode kv snapshot: %v", err)) // map of ints: cannot fail
	}
	return b
}

// restore replaces the state with an encoded snapshot.
func (s *kvStore) restore(b []byte) error {
	m := map[string]int64{}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
	}
	s.m = m
	return nil
}
