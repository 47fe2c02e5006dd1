// Package twopc is the twopc target of faultline: a bank (and a register
// store) whose transactions commit atomically across participants by
// two-phase commit with presumed abort.
//
// One node is the coordinator (MachineConfig.Coordinator, the role
// "coordinator"); every other node is a participant. Accounts 0..A-1 live
// on participant Participants[a % P] (participant ids sorted), register
// keys on Participants[fnv32a(key) % P].
//
// # Layers
//
//   - Machine: the deterministic node layer (DESIGN.md §6.1) — client
//     requests, both roles of the protocol, recovery and the seeded bugs —
//     driven by Request, Step and Tick with the node clock's reading
//     passed in. Its Batch states the order the driver must keep: append
//     the records (fsync when asked), then send, then reply.
//   - The node shell around a Machine: HTTP client API, transport, the log
//     file (through the disk seam) and the clock.
//   - The simulator's adapter (SimTarget, simulate.go): the same Machines
//     under `faultline sim`, each driven as Node.Run drives it, its log a
//     MemStorage, its clients' answers classified and resolved as Client
//     does.
//
// # Protocol
//
// The coordinator turns each client request into a transaction with a
// durable, unique id "<incarnation>.<seq>" (the incarnation is logged and
// bumped at each start) and sends each involved participant a prepare
// with its ops. A participant takes locks (exclusive for debit, credit,
// write and cas, shared for reads); a prepare whose locks are held, or
// wanted by an earlier waiting prepare, waits in arrival order, and votes
// no (conflict) if it waited PrepareTimeout, which also breaks deadlocks.
// Then it validates (balance covers a debit, a cas's expected value is current),
// appends a prepare record with fsync and votes yes with the values it
// read. All yes: the coordinator appends the decision record with fsync,
// then sends commit and answers the client ok; a no or PrepareTimeout:
// it sends abort and answers the client's definite failure, with no
// record (presumed abort). It re-sends commit every ResendInterval until
// every participant acked, then appends an end record. On commit a
// participant applies the ops, appends a commit record with fsync,
// releases its locks and acks; on abort it releases them, appends an
// abort record and acks.
//
// A participant that voted yes holds its locks until it learns the
// decision: after InDoubtAfter it asks the coordinator (status), again
// every InDoubtAfter. The coordinator answers commit for a logged decision
// and abort otherwise. After a restart the coordinator re-sends commit for
// every committed, unended txn; a participant reloads its balances,
// register values and prepared-but-undecided txns (re-taking their locks)
// and asks about each. Machine.Stats reports how long participants were
// blocked in doubt.
//
// A client names each transfer, write and cas with a fresh request id
// (Request.ID); the decision record keeps it. A client that got no
// definite answer (the coordinator was killed, paused or cut off) asks
// for the request's outcome ("outcome"): the coordinator answers ok for a
// committed request, waits for the decision of a running one, and answers
// a definite abort otherwise — presumed abort again — after which it
// refuses that id, so the request, if it is still on its way, cannot
// commit later. Only a request whose outcome stays unknown (the client
// gives up after Client's ResolveFor) is recorded info.
//
// # Seeded bugs
//
//   - presume-abort: a participant that voted yes and has no decision
//     after InDoubtAfter aborts on its own; with the coordinator cut off
//     after the votes, one participant commits and another aborts, and the
//     bank's total changes.
//   - volatile-prepare: the prepare record is not written; a participant
//     that crashes after its yes vote forgets the txn and acks its commit
//     without applying it.
//   - commit-before-log: the coordinator sends commit (and answers ok)
//     before the decision record is durable — it writes the record only
//     once every participant acked the commit; a crash before that forgets
//     the commit, and the participants that missed it learn abort.
//   - early-unlock: a participant holds no lock past its vote, so
//     concurrent transfers from one account both validate against the
//     same balance (overdraft) and reads see half-applied transfers.
package twopc
