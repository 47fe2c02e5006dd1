package netfault

import (
	"errors"
	"fmt"
	"sync"

	"github.com/vishvananda/netns"
)

// Injector holds the desired Rules of one node and applies them to whatever
// namespace the node has now. A Docker container gets a new namespace each
// time it restarts (verified: the table and the veth are gone after
// kill+start), so the caller re-applies with Reapply after a restart. The
// Injector also owns the Delayer that NFQUEUE delay needs, and moves it to
// the new namespace.
//
// An Injector is safe for concurrent use. The zero value is ready.
type Injector struct {
	// Seed drives the jitter draws of the delayers it starts.
	Seed int64

	mu      sync.Mutex
	rules   Rules
	delayer *Delayer
	// delayerNS identifies the namespace the delayer listens in. While the
	// delayer's socket is open that namespace cannot be freed, so a new
	// namespace never has the same identity.
	delayerNS string
}

// Rules returns the desired rules.
func (in *Injector) Rules() Rules {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.rules
}

// Apply records r as the desired rules, then makes namespace ns match it.
// The record is kept even when applying fails, so that Reapply after a
// restart installs what was asked for.
func (in *Injector) Apply(ns netns.NsHandle, r Rules) error {
	if err := r.Validate(); err != nil {
		return err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules = r
	return in.applyLocked(ns)
}

// Want records r as the desired rules without touching any namespace: for
// a node that is down and has none. Reapply installs them when it is back.
func (in *Injector) Want(r Rules) error {
	if err := r.Validate(); err != nil {
		return err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules = r
	return nil
}

// Reapply makes namespace ns match the desired rules again; use it after the
// node restarted into a new namespace. With no desired rules it does nothing.
func (in *Injector) Reapply(ns netns.NsHandle) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.rules.Empty() && in.delayer == nil {
		return nil
	}
	return in.applyLocked(ns)
}

// Heal clears the desired rules, removes every fault from namespace ns and
// stops the delayer.
func (in *Injector) Heal(ns netns.NsHandle) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules = Rules{}
	err := Heal(ns)
	return errors.Join(err, in.closeDelayerLocked())
}

// Forget clears the desired rules and stops the delayer without touching any
// namespace: for a node whose namespace is gone (a stopped container).
func (in *Injector) Forget() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules = Rules{}
	return in.closeDelayerLocked()
}

// Close stops the delayer; the namespace keeps its rules.
func (in *Injector) Close() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.closeDelayerLocked()
}

func (in *Injector) applyLocked(ns netns.NsHandle) error {
	r := in.rules
	if UsesQueue(r) {
		// Listen first, so the queue rule never sends packets to nobody
		// (they would pass undelayed thanks to the bypass flag).
		id := ns.UniqueId()
		switch {
		case in.delayer != nil && in.delayerNS == id:
			in.delayer.SetDelay(r.Delay.Latency, r.Delay.Jitter)
		default:
			// A new namespace (the node restarted): queues are per
			// namespace, so the new listener does not collide with the old
			// one, which listens in a namespace that is gone.
			d, err := NewDelayer(ns, r.Delay.Latency, r.Delay.Jitter, in.Seed)
			if err != nil {
				return err
			}
			old := in.delayer
			in.delayer, in.delayerNS = d, id
			if old != nil {
				_ = old.Close()
			}
		}
	}
	if err := Apply(ns, r); err != nil {
		return err
	}
	if !UsesQueue(r) {
		// Only after the rule is gone, so no packet is queued to nobody.
		if err := in.closeDelayerLocked(); err != nil {
			return fmt.Errorf("stop delayer: %w", err)
		}
	}
	return nil
}

func (in *Injector) closeDelayerLocked() error {
	if in.delayer == nil {
		return nil
	}
	err := in.delayer.Close()
	in.delayer, in.delayerNS = nil, ""
	return err
}

// DelayerStats returns the packets queued to and released by the current
// delayer (zero without one).
func (in *Injector) DelayerStats() (queued, released uint64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.delayer == nil {
		return 0, 0
	}
	return in.delayer.Stats()
}
