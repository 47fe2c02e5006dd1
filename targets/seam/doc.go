// Package seam holds the fault seams of faultline's bundled nodes: a clock,
// a storage file and a message shim, each switched per node through an admin
// HTTP endpoint (AdminHandler, served by the node under /admin/) that the
// clock, disk and message nemeses drive with an AdminClient.
//
// The seams exist because the kernel cannot do these faults per node: no
// kernel gives one container its own wall clock (settimeofday moves the
// host's; time namespaces offset only the monotonic and boot clocks, and
// only before the first process enters; libfaketime does not reach static
// Go binaries), and a SIGKILL does not lose page-cache writes. A bundled
// node therefore reads time through a Clock, writes its log through a File
// of a Disk, and sends protocol messages through a Shim.
//
// # Clock
//
// Clock.Now is the host's wall clock plus an offset, a drift (in parts per
// million of the time elapsed since the drift was set) and a strobe (the
// reading jumps forward by delta, back by delta one period later, forward
// again after another period, ...). It returns times without Go's monotonic
// reading (Round(0)), so that t2.Sub(t1) of two seam readings shows the skew
// instead of the monotonic elapsed time. Code of a bundled node that decides
// anything by time (raft ticks and leases, timeouts that compare
// timestamps, hybrid logical clocks) must read this clock.
//
// Code outside the seam keeps running on the host's real clocks, and a
// clock fault does not reach it: Go runtime timers and time.Sleep, the
// time.Ticker that wakes a node's loop (the loop then reads the seam to
// decide how many ticks have passed, so a skewed node ticks by its skewed
// clock but wakes on real time), context deadlines and HTTP client and
// server timeouts (all on the real monotonic clock), log timestamps, the
// harness and its history (test time is the harness's monotonic clock), and
// every process that is not a bundled node. A foreign target cannot have its
// clock faulted by faultline at all.
//
// # Disk
//
// A Disk controls the Files of one node. In its normal mode a File passes
// writes to the underlying file (the page cache) and Sync to fsync. With
// lose-unsynced on, writes since the last Sync stay in process memory, so a
// SIGKILL loses them, as a power cut would lose the page cache; Sync writes
// them out and fsyncs. Switching the mode off hands buffered writes to the
// file (as the kernel would eventually) without fsync. With EIO on, every
// Sync fails with an *os.PathError wrapping syscall.EIO and nothing is made
// durable; data buffered in lose-unsynced mode is discarded, as Linux may
// drop dirty pages after a failed writeback. What a node does with the error
// is its contract, not the seam's: the bundled Raft node crash-stops.
//
// # Messages
//
// A Shim wraps a node's send function and applies the per-peer rules of a
// Messages controller to every protocol message: drop, duplicate, delay
// with jitter, and reorder (hold a message back so later ones overtake it).
// The faults are message-level, not packet-level: they act on whole protocol
// messages between bundled nodes before they reach the transport, so client
// traffic, TCP retransmission and connection setup are untouched, and they
// work on every runtime, including local. Random choices come from a
// math/rand source seeded through the admin endpoint.
//
// # Admin protocol
//
// AdminHandler serves, under the node's /admin/ prefix (JSON bodies,
// durations in nanoseconds):
//
//	GET  /admin/state  State: which seams the node has and their state
//	POST /admin/clock  ClockRequest {"op":"jump","delta_ns":N} | {"op":"drift","ppm":F} |
//	                   {"op":"strobe","delta_ns":N,"period_ns":P} | {"op":"reset"}  → ClockState
//	POST /admin/disk   DiskRequest {"lose_unsynced":BOOL,"eio":BOOL} (absent fields unchanged) → DiskState
//	POST /admin/msg    MsgRequest {"rules":{"n2":MsgRule,"*":MsgRule},"seed":N} (replaces every rule;
//	                   no rules clears them) → MsgState
//	POST /admin/reset  clock to real time, lose-unsynced and EIO off, no message rules → State
//
// Errors are a non-2xx status with {"error": "..."}: 400 for a bad request,
// 404 when the node lacks the seam. A node that does not answer GET
// /admin/state with a State of the current Version is not a bundled node;
// AdminClient reports that as ErrNotBundled.
package seam
