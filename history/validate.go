package history

import (
	"fmt"
	"strconv"
)

// check reports what is wrong with a single op, judged on its own: the type
// must be known, f non-empty, time non-negative and the process a client
// number or the nemesis. It returns "" for a well-formed op.
func (o *Op) check() string {
	switch {
	case !o.Type.Valid():
		return fmt.Sprintf("type %q is not invoke, ok, fail or info", string(o.Type))
	case o.F == "":
		return "f is empty"
	case o.Time < 0:
		return "time " + strconv.FormatInt(o.Time, 10) + " is negative"
	case o.Process < Nemesis:
		return "process " + strconv.Itoa(int(o.Process)) + " is neither a client number (>= 0) nor \"nemesis\""
	}
	return ""
}

// ValidationError is what Validate returns for a history whose events do not
// pair up. Pos is the op's position in the slice (0-based; in a file read by
// ReadFile with no blank lines it is the line number minus one) and Index its
// Index field.
type ValidationError struct {
	Pos   int
	Index int64
	Msg   string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("history op %d (index %d): %s", e.Pos, e.Index, e.Msg)
}

// Validate checks that ops form a well-paired history (DESIGN.md §4):
//
//   - every op is well formed (type, f, time, process; see Read);
//   - a client process has at most one outstanding invoke;
//   - every completion (ok, fail, info) follows an invoke of the same process
//     with the same f (and the same key, when both name one);
//   - a process that got info never invokes again.
//
// Nemesis ops are checked only for being well formed. Invokes still
// outstanding at the end are allowed: they are treated like info by checkers.
// The first violation is returned as a *ValidationError.
func Validate(ops []Op) error {
	type state struct {
		pending int  // position of the outstanding invoke, or -1
		crashed bool // got info
		crashAt int  // position of that info
	}
	procs := make(map[Process]*state)
	for i := range ops {
		op := &ops[i]
		fail := func(format string, args ...any) error {
			return &ValidationError{Pos: i, Index: op.Index, Msg: fmt.Sprintf(format, args...)}
		}
		if msg := op.check(); msg != "" {
			return fail("%s", msg)
		}
		if op.IsNemesis() {
			continue
		}
		st := procs[op.Process]
		if st == nil {
			st = &state{pending: -1}
			procs[op.Process] = st
		}
		if op.Type == Invoke {
			switch {
			case st.crashed:
				return fail("process %d invokes again after an info at op %d (index %d); a process that got info must never issue again",
					op.Process, st.crashAt, ops[st.crashAt].Index)
			case st.pending >= 0:
				return fail("process %d invokes while its invoke at op %d (index %d) is still outstanding",
					op.Process, st.pending, ops[st.pending].Index)
			}
			st.pending = i
			continue
		}
		if st.pending < 0 {
			return fail("%s of process %d has no outstanding invoke", op.Type, op.Process)
		}
		inv := &ops[st.pending]
		if inv.F != op.F {
			return fail("%s has f %q but the invoke at op %d (index %d) has f %q",
				op.Type, op.F, st.pending, inv.Index, inv.F)
		}
		if inv.Key != "" && op.Key != "" && inv.Key != op.Key {
			return fail("%s has key %q but the invoke at op %d (index %d) has key %q",
				op.Type, op.Key, st.pending, inv.Index, inv.Key)
		}
		st.pending = -1
		if op.Type == Info {
			st.crashed, st.crashAt = true, i
		}
	}
	return nil
}
