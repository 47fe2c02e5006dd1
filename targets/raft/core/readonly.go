package core

// readRequest is one ReadIndex call waiting for its heartbeat round.
type readRequest struct {
	ctx   uint64
	index uint64 // the leader's commit index when the request arrived
	acks  map[string]bool
}

// readOnly is the leader's queue of ReadIndex requests, oldest first. A
// quorum of acknowledgements for a request confirms leadership at a moment
// after every earlier request arrived, so it releases those too.
type readOnly struct {
	queue []*readRequest
	byCtx map[uint64]*readRequest
}

func (ro *readOnly) reset() {
	ro.queue = nil
	ro.byCtx = nil
}

// add queues a request; a duplicate ctx is ignored.
func (ro *readOnly) add(ctx, index uint64, self string) {
	if ro.byCtx == nil {
		ro.byCtx = map[uint64]*readRequest{}
	}
	if _, dup := ro.byCtx[ctx]; dup {
		return
	}
	rr := &readRequest{ctx: ctx, index: index, acks: map[string]bool{self: true}}
	ro.queue = append(ro.queue, rr)
	ro.byCtx[ctx] = rr
}

// ack records from's acknowledgement of ctx and returns how many nodes have
// acknowledged it (0 if ctx is unknown).
func (ro *readOnly) ack(ctx uint64, from string) int {
	rr, ok := ro.byCtx[ctx]
	if !ok {
		return 0
	}
	rr.acks[from] = true
	return len(rr.acks)
}

// advance removes and returns every request up to and including ctx.
func (ro *readOnly) advance(ctx uint64) []*readRequest {
	for i, rr := range ro.queue {
		if rr.ctx == ctx {
			done := ro.queue[: i+1 : i+1]
			ro.queue = ro.queue[i+1:]
			for _, d := range done {
				delete(ro.byCtx, d.ctx)
			}
			return done
		}
	}
	return nil
}
