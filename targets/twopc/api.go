package twopc

// Paths of the node's HTTP API.
const (
	// OpPath takes a client Request (POST, JSON) and answers an
	// APIResponse.
	OpPath = "/op"
	// MessagePath takes a JSON array of Message from a peer (POST).
	MessagePath = "/twopc/message"
	// StatsPath answers the node's Stats (GET, JSON).
	StatsPath = "/stats"
	// HealthPath answers 200 while the node runs.
	HealthPath = "/healthz"
)

// Error codes the shell answers with, besides the machine's.
const (
	// ErrStopping (indefinite): the node stopped, or could not make its log
	// durable, while the request was in flight.
	ErrStopping = "stopping"
	// ErrBusy (definite): the request never reached the machine.
	ErrBusy = "busy"
)
