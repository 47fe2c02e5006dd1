package raft

import (
	"encoding/json"
	"fmt"

	"github.com/faultline-io/faultline/targets/raft/core"
)

// walRecord is one record of the write-ahead log: a HardState, entries, or
// both. Entries starting at index i replace whatever the log held from i on
// (a conflicting suffix truncated by a new leader).
type walRecord struct {
	HardState *core.HardState `json:"hs,omitempty"`
	Entries   []core.Entry    `json:"ents,omitempty"`
}

// saveReady appends what a Ready asks to persist and, when sync is set,
// makes it durable. hs is the node's latest HardState; it rides along with
// every record. Commit-only changes are not written on their own: a lower
// commit index after a restart is safe.
func saveReady(s Storage, hs core.HardState, ents []core.Entry, sync bool) error {
	return saveRecord(s, hs, ents, sync, sync)
}

// saveRecord is saveReady with the fsync separate: must says the record
// has to be written (a Ready with MustSync), fsync whether to sync it. The
// no-fsync bug writes what it must but never syncs.
func saveRecord(s Storage, hs core.HardState, ents []core.Entry, must, fsync bool) error {
	if len(ents) == 0 && !must {
		return nil
	}
	rec := walRecord{Entries: ents}
	if !hs.IsEmpty() {
		rec.HardState = &hs
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode wal record: %w", err)
	}
	if err := s.Append(b); err != nil {
		return fmt.Errorf("append to wal: %w", err)
	}
	if must && fsync {
		if err := s.Sync(); err != nil {
			return fmt.Errorf("sync wal: %w", err)
		}
	}
	return nil
}

// loadWAL replays s into the latest HardState and the log.
func loadWAL(s Storage) (core.HardState, []core.Entry, error) {
	var hs core.HardState
	var log []core.Entry
	recs, err := s.ReadAll()
	if err != nil {
		return hs, nil, err
	}
	for i, b := range recs {
		var rec walRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return hs, nil, fmt.Errorf("wal record %d: %w", i, err)
		}
		if rec.HardState != nil {
			hs = *rec.HardState
		}
		if len(rec.Entries) == 0 {
			continue
		}
		first := rec.Entries[0].Index
		if first < 1 || first > uint64(len(log))+1 {
			return hs, nil, fmt.Errorf("wal record %d: entries start at %d after a log ending at %d", i, first, len(log))
		}
		log = append(log[:first-1], rec.Entries...)
	}
	if hs.Commit > uint64(len(log)) {
		hs.Commit = uint64(len(log))
	}
	return hs, log, nil
}
