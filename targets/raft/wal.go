package raft

import (
	"encoding/json"
	"fmt"

	"github.com/faultline-io/faultline/targets/raft/core"
)

// walRecord is one record of the write-ahead log: a HardState, entries, or
// both. Entries starting at index i replace whatever the log held from i on
// (a conflicting suffix truncated by a new leader).
//
// A record with a Snapshot replaces everything before it: the log becomes
// the snapshot followed by the record's Entries (which start right after
// it). saveSnapshot writes it as the first record of a new WAL segment.
type walRecord struct {
	Snapshot  *core.Snapshot  `json:"snap,omitempty"`
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

// saveSnapshot makes snap the base of the WAL: with fsync it rotates s to a
// new segment whose first record holds snap, hs and ents, synced, and
// deletes the older segments, so the WAL is bounded by what was written
// since. ents must be every entry after snap.Index the node has persisted
// (or is about to: entries the core holds but has not yet handed out are
// fine too), in order from snap.Index+1; hs the latest HardState.
//
// Without fsync (the no-fsync bug) nothing is ever synced, so nothing may
// be deleted either: the record is appended to the current segment, where
// it replaces the log on replay all the same, and the WAL keeps growing.
func saveSnapshot(s Storage, snap core.Snapshot, hs core.HardState, ents []core.Entry, fsync bool) error {
	if snap.IsEmpty() {
		return fmt.Errorf("save snapshot: empty snapshot")
	}
	if len(ents) > 0 && ents[0].Index != snap.Index+1 {
		return fmt.Errorf("save snapshot at %d: entries start at %d, want %d", snap.Index, ents[0].Index, snap.Index+1)
	}
	rec := walRecord{Snapshot: &snap, Entries: ents}
	if !hs.IsEmpty() {
		rec.HardState = &hs
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode wal snapshot: %w", err)
	}
	if !fsync {
		if err := s.Append(b); err != nil {
			return fmt.Errorf("append snapshot to wal: %w", err)
		}
		return nil
	}
	if err := s.Rotate(b); err != nil {
		return fmt.Errorf("rotate wal: %w", err)
	}
	return nil
}

// loadWALSnapshot replays s into the latest HardState, the latest snapshot
// (nil for none) and the entries after it. Commit is capped at the last
// entry; it may be below the snapshot's index (core.New raises it).
func loadWALSnapshot(s Storage) (core.HardState, *core.Snapshot, []core.Entry, error) {
	var hs core.HardState
	var snap *core.Snapshot
	var log []core.Entry // entries after base
	var base uint64      // snap.Index, 0 without a snapshot
	recs, err := s.ReadAll()
	if err != nil {
		return hs, nil, nil, err
	}
	decode := decodeWALRecord
	if c, ok := s.(walCache); ok {
		decode = c.decodeWALRecord
	}
	for i, b := range recs {
		rec, err := decode(b)
		if err != nil {
			return hs, nil, nil, fmt.Errorf("wal record %d: %w", i, err)
		}
		if rec.HardState != nil {
			hs = *rec.HardState
		}
		if rec.Snapshot != nil {
			s := *rec.Snapshot // a cached record is shared
			snap, base, log = &s, s.Index, nil
		}
		ents := rec.Entries
		// Entries the snapshot already covers are committed: skip them.
		for len(ents) > 0 && ents[0].Index <= base {
			ents = ents[1:]
		}
		if len(ents) == 0 {
			continue
		}
		first := ents[0].Index
		if first > base+uint64(len(log))+1 {
			return hs, nil, nil, fmt.Errorf("wal record %d: entries start at %d after a log ending at %d", i, first, base+uint64(len(log)))
		}
		log = append(log[:first-base-1], ents...)
	}
	if last := base + uint64(len(log)); hs.Commit > last {
		hs.Commit = last
	}
	return hs, snap, log, nil
}

// decodeWALRecord decodes one record of the WAL.
func decodeWALRecord(b []byte) (rec walRecord, err error) {
	err = json.Unmarshal(b, &rec)
	return rec, err
}

// walCache is a Storage that keeps its records decoded (MemStorage), so
// that a simulated node, restarted hundreds of times in one run, does not
// decode its whole WAL at every restart (that was most of the simulator's
// time under the forget-vote scenario). A decoded record is shared between
// loads: loadWALSnapshot copies what it returns of it.
type walCache interface {
	decodeWALRecord(b []byte) (walRecord, error)
}

// loadWAL replays s into the latest HardState and the log, for a WAL
// without snapshots; one with a snapshot is an error (use
// loadWALSnapshot).
func loadWAL(s Storage) (core.HardState, []core.Entry, error) {
	hs, snap, log, err := loadWALSnapshot(s)
	if err != nil {
		return hs, nil, err
	}
	if snap != nil {
		return hs, nil, fmt.Errorf("the wal holds a snapshot at index %d; this node cannot restore from one", snap.Index)
	}
	return hs, log, nil
}
