package store

import (
	"time"

	"github.com/faultline-io/faultline/workloads"
)

// Config is the full, resolved description of a test. It is written to
// test.json (TestRecord.Config) so that a run can be reproduced; its JSON
// names are part of that file's format. It is data only: harness.ValidateConfig
// checks one against the targets, nemeses and runtimes and fills its derived
// fields.
type Config struct {
	Name     string   `json:"name"`
	Target   string   `json:"target"`
	Workload string   `json:"workload"`
	Nemeses  []string `json:"nemeses"`
	Bugs     []string `json:"bugs,omitempty"`
	// TargetOpts are the target's options, KEY=VALUE as given
	// (--target-opt; targets.Configured reads them).
	TargetOpts      []string      `json:"target_opts,omitempty"`
	Nodes           int           `json:"nodes"`
	Concurrency     int           `json:"concurrency"`
	Rate            float64       `json:"rate"`
	TimeLimit       time.Duration `json:"time_limit"`
	Seed            int64         `json:"seed"`
	Runtime         string        `json:"runtime"`
	Store           string        `json:"store"`
	NemesisInterval time.Duration `json:"nemesis_interval"`
	OpTimeout       time.Duration `json:"op_timeout"`
	CheckerTimeout  time.Duration `json:"checker_timeout"`
	// CheckerMemory is the memory budget in bytes of the linearizability
	// searches, the linearizable checker's and the bank checker's
	// (--checker-memory); 0, left out of test.json, means a quarter
	// of the memory of the machine that checks (checker.DefaultMemoryBudget).
	CheckerMemory int64 `json:"checker_memory,omitempty"`
	// HealthTimeout bounds the wait for a healthy cluster at start and
	// after the final heal.
	HealthTimeout time.Duration `json:"health_timeout"`
	// QuietPeriod bounds the final phase's wait for the nodes to agree:
	// after the final heal, rounds of reads of every key on every node
	// repeat until one round agrees or QuietPeriod has passed.
	QuietPeriod time.Duration `json:"quiet_period"`
	// Binary is the node binary; empty means the running executable.
	Binary string `json:"binary,omitempty"`
	// Port is the node port on runtimes where each node has its own IP.
	Port      int `json:"port"`
	Keys      int `json:"keys"`
	OpsPerKey int `json:"ops_per_key"`
	// Scenario is a scenario file (nemesis.ParseScenario) used instead of
	// a generated schedule; harness.ValidateConfig sets Nemeses to the ones
	// it uses.
	Scenario string `json:"scenario,omitempty"`
	// NemesisOverlap gives every nemesis its own generated schedule, all
	// running at once, so that faults of different nemeses overlap (a
	// clock strobe during a partition). Off: one fault at a time.
	NemesisOverlap bool `json:"nemesis_overlap,omitempty"`
	// TargetFile is a target file (package targets/byo, docs/byo.md)
	// describing the system under test, used instead of a registered
	// target; harness.ValidateConfig sets Target to the name it gives and
	// Port to its port. A run keeps a copy (TargetFileCopy), which a
	// replay reads.
	TargetFile string `json:"target_file,omitempty"`
	// TargetDir is the directory a relative program path in TargetFile is
	// resolved against: the file's own, kept when a replay reads the
	// copy. harness.ValidateConfig fills it when empty.
	TargetDir string `json:"target_dir,omitempty"`
	// TargetSHA256 is the SHA-256 (hex) of TargetFile's content.
	// harness.ValidateConfig fills it when empty and otherwise refuses a
	// file with other content.
	TargetSHA256 string `json:"target_sha256,omitempty"`
}

// DefaultConfig returns the defaults of DESIGN.md §8.
func DefaultConfig() Config {
	wo := workloads.DefaultOptions()
	return Config{
		Target:          "raft",
		Workload:        "register",
		Nodes:           3,
		Concurrency:     10,
		Rate:            200,
		TimeLimit:       60 * time.Second,
		Seed:            1,
		Runtime:         "auto",
		Store:           "store",
		NemesisInterval: 3 * time.Second,
		OpTimeout:       time.Second,
		CheckerTimeout:  60 * time.Second,
		HealthTimeout:   30 * time.Second,
		QuietPeriod:     5 * time.Second,
		Port:            7000,
		Keys:            wo.Keys,
		OpsPerKey:       wo.OpsPerKey,
	}
}
