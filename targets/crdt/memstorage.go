package crdt

import (
	"slices"

	"github.com/faultline-io/faultline/targets/crdt/core"
)

// MemStorage is a node's state log in memory, for the simulator (package
// sim) and tests: the same records as Storage (encodeRecord), read back the
// same way (readLog), compacted at the same size, and kept for as long as
// the value lives, so a node restarts on it as on its data directory.
//
// Like a file written through the disk seam in its normal mode, a Save
// writes its record to the "page cache" and then syncs it: a failed sync
// (SyncErr, as under EIO) leaves the record written but not durable, so it
// survives a process crash and is lost by LoseUnsynced (a power loss).
//
// A MemStorage is not safe for concurrent use.
type MemStorage struct {
	synced   []byte
	unsynced []byte
	// state is every key's latest saved state, for compaction, as
	// Storage.state (set by Open).
	state map[string]core.State
	// SyncErr, when set, is returned by every sync, and nothing written
	// becomes durable.
	SyncErr error
}

// Open returns the states the log holds, as OpenStorage does, and makes
// the storage ready for Save. A node calls it at each start.
func (m *MemStorage) Open() (map[string]core.State, error) {
	b := m.Bytes()
	state, good, err := readLog("memory", b)
	if err != nil {
		return nil, err
	}
	if good < int64(len(b)) { // a torn record: cannot happen in memory, but kept as OpenStorage
		m.synced, m.unsynced = b[:good], nil
	}
	m.state = make(map[string]core.State, len(state))
	for k, v := range state {
		m.state[k] = v
	}
	return state, nil
}

// Save appends changed (internal key → full state) as one record and syncs
// it, as Storage.Save does; past compactAt it first rewrites the log as one
// record of every key.
func (m *MemStorage) Save(changed map[string]core.State) error {
	if len(changed) == 0 {
		return nil
	}
	if m.state == nil {
		m.state = map[string]core.State{}
	}
	for k, v := range changed {
		m.state[k] = v
	}
	if int64(len(m.synced)+len(m.unsynced)) > compactAt {
		return m.compact()
	}
	b, err := encodeRecord(changed)
	if err != nil {
		return err
	}
	m.unsynced = append(m.unsynced, b...)
	return m.sync()
}

// compact replaces the log with one synced record of every key, as
// Storage.compact's fsync and rename do; with SyncErr the log is left as
// it was.
func (m *MemStorage) compact() error {
	b, err := encodeRecord(m.state)
	if err != nil {
		return err
	}
	if m.SyncErr != nil {
		return m.SyncErr
	}
	m.synced, m.unsynced = b, nil
	return nil
}

func (m *MemStorage) sync() error {
	if m.SyncErr != nil {
		return m.SyncErr
	}
	m.synced = append(m.synced, m.unsynced...)
	m.unsynced = nil
	return nil
}

// LoseUnsynced drops every byte written since the last successful sync.
func (m *MemStorage) LoseUnsynced() { m.unsynced = nil }

// Bytes returns a copy of the log as a restarted node would read it:
// synced, then unsynced bytes.
func (m *MemStorage) Bytes() []byte {
	return append(slices.Clone(m.synced), m.unsynced...)
}

var _ Saver = (*MemStorage)(nil)
