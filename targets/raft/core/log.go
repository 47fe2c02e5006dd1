package core

import "fmt"

// raftLog is the log in memory after the latest snapshot, with three marks:
// stable (the last index known to be persisted), committed and applied.
//
// ents[0] is a sentinel at the snapshot's (Index, Term) (index 0, term 0
// before any snapshot), so ents[i] is the entry with index offset()+i and
// the term of the snapshot's last entry stays known for the consistency
// check. Truncation and compaction always copy into a new backing array, so
// slices handed out earlier (in a Ready, or in a message still being
// encoded) never change under their holder, and compacted entries become
// garbage.
type raftLog struct {
	ents []Entry
	// snap is the latest snapshot: its Index and Term are ents[0]'s. Its
	// Data is nil while Index is 0.
	snap Snapshot
	// pending is a snapshot installed from a leader that the shell has not
	// yet taken in a Ready.
	pending   *Snapshot
	stable    uint64
	committed uint64
	applied   uint64
}

// newLog restores a log from a snapshot (nil for none) and the entries after
// it, which must be contiguous from the snapshot's Index+1.
func newLog(snap *Snapshot, restored []Entry, commit, applied uint64) (*raftLog, error) {
	l := &raftLog{ents: make([]Entry, 1, len(restored)+1)}
	if snap != nil {
		l.snap = *snap
		l.ents[0] = Entry{Index: snap.Index, Term: snap.Term}
	}
	first := l.snap.Index + 1
	for i, e := range restored {
		if e.Index != first+uint64(i) {
			return nil, fmt.Errorf("restored entry %d has index %d, want %d (log must be contiguous from %d)", i, e.Index, first+uint64(i), first)
		}
		prev := l.snap.Term
		if i > 0 {
			prev = restored[i-1].Term
		}
		if e.Term < prev {
			return nil, fmt.Errorf("restored entry %d has term %d below its predecessor's %d", e.Index, e.Term, prev)
		}
	}
	l.ents = append(l.ents, restored...)
	l.stable = l.lastIndex()
	if commit > l.lastIndex() {
		return nil, fmt.Errorf("HardState.Commit %d is beyond the last restored index %d", commit, l.lastIndex())
	}
	if applied > max(commit, l.snap.Index) {
		return nil, fmt.Errorf("Applied %d is beyond HardState.Commit %d", applied, commit)
	}
	// The snapshot is committed state, and the state machine was loaded
	// from it: a HardState written before it may carry a lower Commit.
	l.committed = max(commit, l.snap.Index)
	l.applied = max(applied, l.snap.Index)
	return l, nil
}

// offset is the index of the sentinel: the snapshot's last entry.
func (l *raftLog) offset() uint64 { return l.ents[0].Index }

func (l *raftLog) firstIndex() uint64 { return l.offset() + 1 }

func (l *raftLog) lastIndex() uint64 { return l.offset() + uint64(len(l.ents)-1) }

func (l *raftLog) lastTerm() uint64 { return l.ents[len(l.ents)-1].Term }

// term returns the term of entry i and whether it is known: false beyond
// the last index and below the snapshot (compacted away).
func (l *raftLog) term(i uint64) (uint64, bool) {
	if i < l.offset() || i > l.lastIndex() {
		return 0, false
	}
	return l.ents[i-l.offset()].Term, true
}

func (l *raftLog) matchTerm(i, t uint64) bool {
	tt, ok := l.term(i)
	return ok && tt == t
}

// isUpToDate reports whether a log ending at (lasti, term) is at least as
// up to date as this one (Raft §5.4.1).
func (l *raftLog) isUpToDate(lasti, term uint64) bool {
	return term > l.lastTerm() || (term == l.lastTerm() && lasti >= l.lastIndex())
}

// findConflict returns the index of the first entry of ents that is not in
// the log (absent or of another term), or 0 when all are present. Entries
// at or below the snapshot are committed and so present.
func (l *raftLog) findConflict(ents []Entry) uint64 {
	for _, e := range ents {
		if e.Index <= l.offset() {
			continue
		}
		if !l.matchTerm(e.Index, e.Term) {
			return e.Index
		}
	}
	return 0
}

// findConflictByTerm returns the largest index <= index whose term is <=
// term, with that term. Both sides of fast backtracking use it: an entry
// there may match, everything between it and index certainly does not.
// Below the snapshot the term is unknown: it returns the first compacted
// index it reaches with term 0, which sends a leader to its snapshot.
func (l *raftLog) findConflictByTerm(index, term uint64) (uint64, uint64) {
	if index > l.lastIndex() {
		index = l.lastIndex()
	}
	for ; index > 0; index-- {
		t, ok := l.term(index)
		if !ok {
			return index, 0
		}
		if t <= term {
			return index, t
		}
	}
	return 0, 0
}

// maybeAppend handles the entries of a MsgApp whose previous entry is
// (index, logTerm). It returns the index of the last new entry and true, or
// false when the log has no such previous entry. Entries already present
// are kept, so a duplicated or reordered old MsgApp never truncates.
func (l *raftLog) maybeAppend(index, logTerm, committed uint64, ents []Entry) (uint64, bool) {
	if !l.matchTerm(index, logTerm) {
		return 0, false
	}
	lastnew := index + uint64(len(ents))
	if ci := l.findConflict(ents); ci != 0 {
		if ci <= l.committed {
			panic(fmt.Sprintf("raft: entry %d conflicts with committed entry (committed %d)", ci, l.committed))
		}
		l.append(ents[ci-index-1:]...)
	}
	l.commitTo(min(committed, lastnew))
	return lastnew, true
}

// append adds ents, which must be contiguous and start at most one past the
// last index, truncating any suffix they replace.
func (l *raftLog) append(ents ...Entry) {
	if len(ents) == 0 {
		return
	}
	after := ents[0].Index - 1
	if after < l.committed {
		panic(fmt.Sprintf("raft: append after %d would truncate committed entries (committed %d)", after, l.committed))
	}
	if after > l.lastIndex() {
		panic(fmt.Sprintf("raft: append after %d leaves a gap (last %d)", after, l.lastIndex()))
	}
	if after < l.lastIndex() {
		// Truncate into a fresh array: older slices stay intact.
		keep := after - l.offset() + 1
		fresh := make([]Entry, keep, int(keep)+len(ents))
		copy(fresh, l.ents[:keep])
		l.ents = fresh
		if l.stable > after {
			l.stable = after
		}
	}
	l.ents = append(l.ents, ents...)
}

// slice returns entries [lo, hi) that the log holds (none at or below the
// snapshot), capped at maxN entries when maxN > 0.
func (l *raftLog) slice(lo, hi uint64, maxN int) []Entry {
	if lo < l.firstIndex() {
		lo = l.firstIndex()
	}
	if hi > l.lastIndex()+1 {
		hi = l.lastIndex() + 1
	}
	if lo >= hi {
		return nil
	}
	if maxN > 0 && hi-lo > uint64(maxN) {
		hi = lo + uint64(maxN)
	}
	o := l.offset()
	return l.ents[lo-o : hi-o : hi-o]
}

func (l *raftLog) commitTo(i uint64) {
	if i <= l.committed {
		return
	}
	if i > l.lastIndex() {
		panic(fmt.Sprintf("raft: commit %d is beyond the last index %d", i, l.lastIndex()))
	}
	l.committed = i
}

func (l *raftLog) unstableEntries() []Entry { return l.slice(l.stable+1, l.lastIndex()+1, 0) }

func (l *raftLog) nextCommitted() []Entry { return l.slice(l.applied+1, l.committed+1, 0) }

func (l *raftLog) hasNextCommitted() bool { return l.committed > l.applied }

// stableTo marks entries up to (i, t) as persisted, unless the log has since
// been truncated below them.
func (l *raftLog) stableTo(i, t uint64) {
	if l.matchTerm(i, t) && i > l.stable {
		l.stable = i
	}
}

func (l *raftLog) appliedTo(i uint64) {
	if i == 0 {
		return
	}
	if i > l.committed || i < l.applied {
		panic(fmt.Sprintf("raft: applied %d out of range [%d, %d]", i, l.applied, l.committed))
	}
	l.applied = i
}

// compact makes s, a snapshot of applied state, the log's base: entries up
// to s.Index are dropped, the ones after it kept in a fresh array.
func (l *raftLog) compact(s Snapshot) {
	if l.stable < s.Index {
		l.stable = s.Index
	}
	rest := l.ents[s.Index-l.offset()+1:]
	fresh := make([]Entry, 1, len(rest)+1)
	fresh[0] = Entry{Index: s.Index, Term: s.Term}
	l.ents = append(fresh, rest...)
	l.snap = s
}

// restore replaces the whole log with snapshot s, received from a leader
// and newer than anything committed here. The shell gets it in the next
// Ready; everything up to s.Index counts as persisted and applied from then
// on, the shell having been told to make it so before Advance.
func (l *raftLog) restore(s Snapshot) {
	l.ents = []Entry{{Index: s.Index, Term: s.Term}}
	l.snap = s
	l.pending = &s
	l.stable = s.Index
	l.committed = s.Index
	l.applied = s.Index
}
