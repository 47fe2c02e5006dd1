package crdt

// Paths of the node's HTTP API.
const (
	// OpPath takes a client Request (POST, JSON) and answers a Response.
	OpPath = "/op"
	// GossipPath takes a JSON array of Message from a peer (POST).
	GossipPath = "/crdt/gossip"
	// HealthPath answers 200 while the node runs.
	HealthPath = "/healthz"
)

// Error codes of Response.Error besides the machine's "bad-request".
const (
	// ErrCodeStopping (indefinite): the node stopped, or could not make an
	// update durable, while the request was in flight.
	ErrCodeStopping = "stopping"
	// ErrCodeBusy (definite): the request never reached the machine.
	ErrCodeBusy = "busy"
)

// workloadKinds maps a workload to the CRDT that serves it.
var workloadKinds = map[string]string{
	"counter":      "counter",
	"set":          "set",
	"register":     "lww",
	"lww-register": "lww",
	"mv-register":  "mv",
}
