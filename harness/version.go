package harness

import "runtime"

// Version is the faultline version, set at build time with
// -ldflags "-X github.com/faultline-io/faultline/harness.Version=...".
// Run records it in test.json (store.TestRecord.Version).
var Version = "dev"

// GitRevision is the source revision, set at build time like Version.
var GitRevision = "unknown"

func goVersion() string { return runtime.Version() }
