package core

import "testing"

// TestMaybeDecrTo: a rejection of the probe moves Next back towards the
// hint, never below Match+1; a stale one is ignored; and one that cannot
// move Next (the follower lost entries it acknowledged, as under the
// no-fsync bug) leaves the probe paused instead of asking for an immediate
// retry, which would loop at network speed.
func TestMaybeDecrTo(t *testing.T) {
	for _, tc := range []struct {
		name           string
		pr             progress
		rejected, hint uint64
		moved, paused  bool
		next           uint64
	}{
		{"back to the hint", progress{match: 10, next: 20, paused: true}, 19, 15, true, false, 16},
		{"not below match+1", progress{match: 10, next: 20, paused: true}, 19, 3, true, false, 11},
		{"stale", progress{match: 10, next: 20, paused: true}, 25, 3, false, true, 20},
		{"at match: lost acknowledged entries", progress{match: 10, next: 11, paused: true}, 10, 3, false, true, 11},
		{"replicating falls back to match+1", progress{state: stateReplicate, match: 10, next: 30}, 25, 3, true, false, 11},
		{"replicating, at or below match", progress{state: stateReplicate, match: 10, next: 30}, 10, 3, false, false, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr := tc.pr
			if moved := pr.maybeDecrTo(tc.rejected, tc.hint); moved != tc.moved || pr.next != tc.next || pr.paused != tc.paused {
				t.Errorf("maybeDecrTo(%d, %d) on %+v = %v, next %d, paused %v; want %v, %d, %v",
					tc.rejected, tc.hint, tc.pr, moved, pr.next, pr.paused, tc.moved, tc.next, tc.paused)
			}
		})
	}
}
