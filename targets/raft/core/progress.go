package core

// progressState is how the leader currently sends entries to a follower.
type progressState uint8

const (
	// stateProbe: the leader does not know where the follower's log
	// matches; it sends one MsgApp and waits for the answer (or the next
	// heartbeat response) before sending another.
	stateProbe progressState = iota
	// stateReplicate: the logs match up to Match; the leader streams
	// entries optimistically, advancing Next as it sends, with at most
	// maxInflight messages unacknowledged.
	stateReplicate
	// stateSnapshot: the follower needs entries the leader has compacted
	// away; a MsgSnap was sent and nothing else is until the follower
	// acknowledges it (or, the message being best effort, the leader
	// gives up waiting and probes again).
	stateSnapshot
)

// progress is the leader's view of one follower.
type progress struct {
	match, next uint64
	state       progressState
	// paused is set in stateProbe after a MsgApp is sent.
	paused bool
	// inflight holds the last index of each unacknowledged MsgApp sent in
	// stateReplicate, oldest first.
	inflight []uint64
	// recentActive is set by any response and cleared at each check-quorum
	// period.
	recentActive bool
	// stalled counts ticks during which the follower lags (match below the
	// last index) without acknowledging anything; a stream whose tail was
	// dropped, or a snapshot that was, falls back to probing when it
	// reaches the limit.
	stalled int
	// pendingSnapshot is the Index of the snapshot sent in stateSnapshot.
	pendingSnapshot uint64
}

func (p *progress) becomeProbe() {
	p.state = stateProbe
	p.next = p.match + 1
	p.paused = false
	p.inflight = p.inflight[:0]
	p.stalled = 0
}

// becomeSnapshot records that a snapshot up to index was sent.
func (p *progress) becomeSnapshot(index uint64) {
	p.state = stateSnapshot
	p.pendingSnapshot = index
	p.next = index + 1
	p.paused = false
	p.inflight = p.inflight[:0]
	p.stalled = 0
}

func (p *progress) becomeReplicate() {
	p.state = stateReplicate
	p.next = p.match + 1
	p.paused = false
	p.inflight = p.inflight[:0]
}

// maybeUpdate records an acknowledgement up to n and reports whether Match
// grew.
func (p *progress) maybeUpdate(n uint64) bool {
	updated := false
	if p.match < n {
		p.match = n
		updated = true
		p.paused = false
		p.stalled = 0
	}
	if p.next < n+1 {
		p.next = n + 1
	}
	return updated
}

// maybeDecrTo handles a rejection of the MsgApp sent after index rejected,
// with hint the highest index that may match. It reports whether Next moved
// (false: a stale rejection, ignored).
func (p *progress) maybeDecrTo(rejected, hint uint64) bool {
	if p.state == stateSnapshot {
		// Rejections of appends sent before the snapshot are stale.
		return false
	}
	if p.state == stateReplicate {
		if rejected <= p.match {
			return false
		}
		p.next = p.match + 1
		return true
	}
	if p.next-1 != rejected {
		return false
	}
	next := max(min(rejected, hint+1), p.match+1)
	if next == p.next {
		// The follower rejects the entry after its match: it lost
		// entries it had acknowledged (written without a sync). Next
		// cannot go below match+1, and a retry at once would get the
		// same rejection, in a loop as fast as the network: stay
		// paused, and probe again at the next heartbeat response.
		return false
	}
	p.next = next
	p.paused = false
	return true
}

func (p *progress) isPaused(maxInflight int) bool {
	switch p.state {
	case stateProbe:
		return p.paused
	case stateSnapshot:
		return true
	}
	return len(p.inflight) >= maxInflight
}

// freeTo forgets in-flight messages acknowledged by an ack up to index.
func (p *progress) freeTo(index uint64) {
	i := 0
	for i < len(p.inflight) && p.inflight[i] <= index {
		i++
	}
	p.inflight = append(p.inflight[:0], p.inflight[i:]...)
}
