package core

import "fmt"

// raftLog is the whole log in memory, with three marks: stable (the last
// index known to be persisted), committed and applied.
//
// ents[0] is a sentinel at index 0, term 0, so ents[i] is the entry with
// index i. Truncation always copies into a new backing array, so slices
// handed out earlier (in a Ready, or in a message still being encoded) never
// change under their holder.
type raftLog struct {
	ents      []Entry
	stable    uint64
	committed uint64
	applied   uint64
}

func newLog(restored []Entry, commit, applied uint64) (*raftLog, error) {
	l := &raftLog{ents: make([]Entry, 1, len(restored)+1)}
	for i, e := range restored {
		if e.Index != uint64(i+1) {
			return nil, fmt.Errorf("restored entry %d has index %d, want %d (log must be contiguous from 1)", i, e.Index, i+1)
		}
		if i > 0 && e.Term < restored[i-1].Term {
			return nil, fmt.Errorf("restored entry %d has term %d below its predecessor's %d", e.Index, e.Term, restored[i-1].Term)
		}
	}
	l.ents = append(l.ents, restored...)
	l.stable = l.lastIndex()
	if commit > l.lastIndex() {
		return nil, fmt.Errorf("HardState.Commit %d is beyond the last restored index %d", commit, l.lastIndex())
	}
	if applied > commit {
		return nil, fmt.Errorf("Applied %d is beyond HardState.Commit %d", applied, commit)
	}
	l.committed = commit
	l.applied = applied
	return l, nil
}

func (l *raftLog) lastIndex() uint64 { return uint64(len(l.ents) - 1) }

func (l *raftLog) lastTerm() uint64 { return l.ents[len(l.ents)-1].Term }

// term returns the term of entry i and whether it exists.
func (l *raftLog) term(i uint64) (uint64, bool) {
	if i > l.lastIndex() {
		return 0, false
	}
	return l.ents[i].Term, true
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
// the log (absent or of another term), or 0 when all are present.
func (l *raftLog) findConflict(ents []Entry) uint64 {
	for _, e := range ents {
		if !l.matchTerm(e.Index, e.Term) {
			return e.Index
		}
	}
	return 0
}

// findConflictByTerm returns the largest index <= index whose term is <=
// term, with that term. Both sides of fast backtracking use it: an entry
// there may match, everything between it and index certainly does not.
func (l *raftLog) findConflictByTerm(index, term uint64) (uint64, uint64) {
	if index > l.lastIndex() {
		index = l.lastIndex()
	}
	for ; index > 0; index-- {
		if t := l.ents[index].Term; t <= term {
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
		fresh := make([]Entry, after+1, int(after+1)+len(ents))
		copy(fresh, l.ents[:after+1])
		l.ents = fresh
		if l.stable > after {
			l.stable = after
		}
	}
	l.ents = append(l.ents, ents...)
}

// slice returns entries [lo, hi), capped at maxN entries when maxN > 0.
func (l *raftLog) slice(lo, hi uint64, maxN int) []Entry {
	if lo < 1 {
		lo = 1
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
	return l.ents[lo:hi:hi]
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
