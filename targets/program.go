package targets

// NodeProgrammer is implemented by targets whose nodes are a program of
// their own rather than `faultline node NAME` (a system described by a
// target file). NodeCommand then returns that program's arguments.
type NodeProgrammer interface {
	// NodeProgram returns what runs a node; exactly one is set. binary is
	// an executable on this machine: the local and netns runtimes run it,
	// the docker runtime copies it into the node image in place of the
	// faultline binary (so it must be static). image is a Docker image
	// already present locally, which only the docker runtime runs (never
	// pulling it); NodeCommand is then the container's arguments.
	NodeProgram() (binary, image string)
}

// NemesisRefuser is implemented by targets that cannot take some nemeses,
// such as a system whose nodes do not serve the bundled nodes' admin
// endpoint, which the clock, disk and message nemeses act through. The
// harness asks before a run and refuses the run (as bad input) with the
// reason.
type NemesisRefuser interface {
	// RefuseNemesis returns nil when the target can take nemesis name,
	// else why it cannot.
	RefuseNemesis(name string) error
}
