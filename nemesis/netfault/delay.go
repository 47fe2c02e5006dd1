package netfault

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"time"

	nfqueue "github.com/florianl/go-nfqueue/v2"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Delayer listens on NFQUEUE Queue in one network namespace and accepts each
// queued packet after Latency plus a uniform draw in [-Jitter, +Jitter]. It
// is the harness half of delay on kernels without netem; the other half is
// the rule Apply installs. Verdicts are given in release order, so jitter
// reorders packets.
//
// A Delayer fails open: the rule carries the bypass flag (no listener, no
// queueing) and the queue is configured fail-open (a full queue accepts), so
// neither a dead harness nor a flood blackholes the node. Close releases
// every packet it still holds before it stops listening.
type Delayer struct {
	latency, jitter atomic.Int64 // nanoseconds
	nf              *nfqueue.Nfqueue
	cancel          context.CancelFunc
	in              chan uint32
	stop            chan struct{}
	done            chan struct{}
	closeOnce       sync.Once

	queued, released atomic.Uint64
}

// NewDelayer starts listening on Queue in namespace ns. seed drives the
// jitter draws.
func NewDelayer(ns netns.NsHandle, latency, jitter time.Duration, seed int64) (*Delayer, error) {
	if latency < 0 || jitter < 0 {
		return nil, fmt.Errorf("delay %v ± %v is negative", latency, jitter)
	}
	nf, err := nfqueue.Open(&nfqueue.Config{
		NetNS:        int(ns),
		NfQueue:      Queue,
		MaxQueueLen:  8192,
		Copymode:     nfqueue.NfQnlCopyMeta,
		Flags:        nfqueue.NfQaCfgFlagFailOpen,
		AfFamily:     unix.AF_INET,
		WriteTimeout: time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("open NFQUEUE %d in %v: %w", Queue, ns, err)
	}
	_ = nf.Con.SetReadBuffer(4 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	d := &Delayer{
		nf: nf, cancel: cancel,
		in: make(chan uint32, 4096), stop: make(chan struct{}), done: make(chan struct{}),
	}
	d.SetDelay(latency, jitter)
	hook := func(a nfqueue.Attribute) int {
		if a.PacketID == nil {
			return 0
		}
		d.queued.Add(1)
		select {
		case d.in <- *a.PacketID:
		case <-ctx.Done():
			return 1
		}
		return 0
	}
	onErr := func(err error) int {
		if ctx.Err() != nil {
			return 1
		}
		// ENOBUFS means the kernel could not hand us packets; with fail-open
		// they were accepted undelayed. Keep listening.
		return 0
	}
	if err := nf.RegisterWithErrorFunc(ctx, hook, onErr); err != nil {
		cancel()
		nf.Close()
		return nil, fmt.Errorf("bind NFQUEUE %d in %v: %w", Queue, ns, err)
	}
	go d.schedule(rand.New(rand.NewSource(seed)))
	return d, nil
}

// SetDelay changes the delay of packets queued from now on. A namespace has
// one listener per queue, so a new delay in the same namespace goes through
// SetDelay rather than a second Delayer.
func (d *Delayer) SetDelay(latency, jitter time.Duration) {
	d.latency.Store(int64(max(latency, 0)))
	d.jitter.Store(int64(max(jitter, 0)))
}

// Stats returns how many packets were queued to and released by d.
func (d *Delayer) Stats() (queued, released uint64) { return d.queued.Load(), d.released.Load() }

// Close accepts every packet still held, then stops listening. It is
// idempotent.
func (d *Delayer) Close() error {
	var err error
	d.closeOnce.Do(func() {
		close(d.stop)
		<-d.done
		d.cancel()
		err = d.nf.Close()
		if errors.Is(err, context.Canceled) {
			err = nil
		}
	})
	return err
}

type held struct {
	id uint32
	at time.Time
}

type heldHeap []held

func (h heldHeap) Len() int           { return len(h) }
func (h heldHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h heldHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *heldHeap) Push(x any)        { *h = append(*h, x.(held)) }
func (h *heldHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// schedule owns the held packets: it stamps each with its release time and
// accepts it when that time comes.
func (d *Delayer) schedule(r *rand.Rand) {
	defer close(d.done)
	var h heldHeap
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	accept := func(id uint32) {
		_ = d.nf.SetVerdict(id, nfqueue.NfAccept)
		d.released.Add(1)
	}
	for {
		now := time.Now()
		for h.Len() > 0 && !h[0].at.After(now) {
			accept(heap.Pop(&h).(held).id)
		}
		// Since Go 1.23, Reset and Stop leave no stale tick in timer.C.
		if h.Len() > 0 {
			timer.Reset(h[0].at.Sub(now))
		} else {
			timer.Stop()
		}
		select {
		case id := <-d.in:
			delay := time.Duration(d.latency.Load())
			if j := d.jitter.Load(); j > 0 {
				delay += time.Duration((2*r.Float64() - 1) * float64(j))
			}
			heap.Push(&h, held{id: id, at: time.Now().Add(max(delay, 0))})
		case <-timer.C:
		case <-d.stop:
			for h.Len() > 0 {
				accept(heap.Pop(&h).(held).id)
			}
			for {
				select {
				case id := <-d.in:
					accept(id)
				default:
					return
				}
			}
		}
	}
}
