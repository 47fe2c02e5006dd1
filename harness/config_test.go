package harness

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline-io/faultline/store"
	_ "github.com/faultline-io/faultline/targets/crdt"
	_ "github.com/faultline-io/faultline/targets/raft"
)

func TestDefaultConfigIsValid(t *testing.T) {
	c := store.DefaultConfig()
	c.Nemeses = []string{"kill", "pause"}
	if err := ValidateConfig(&c); err != nil {
		t.Fatal(err)
	}
	if c.Name != "raft-register-kill-pause" {
		t.Errorf("derived name %q", c.Name)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	cases := map[string]func(*store.Config){
		"target":           func(c *store.Config) { c.Target = "zookeeper" },
		"workload":         func(c *store.Config) { c.Workload = "bank" },
		"nemesis":          func(c *store.Config) { c.Nemeses = []string{"kill", "meteor"} },
		"bug":              func(c *store.Config) { c.Bugs = []string{"nope"} },
		"nodes":            func(c *store.Config) { c.Nodes = 0 },
		"concurrency":      func(c *store.Config) { c.Concurrency = 0 },
		"rate":             func(c *store.Config) { c.Rate = -1 },
		"time-limit":       func(c *store.Config) { c.TimeLimit = 0 },
		"nemesis-interval": func(c *store.Config) { c.NemesisInterval = 0 },
		"checker-timeout":  func(c *store.Config) { c.CheckerTimeout = -time.Second },
		"runtime":          func(c *store.Config) { c.Runtime = "kubernetes" },
		"name":             func(c *store.Config) { c.Name = "../escape" },
	}
	for field, mutate := range cases {
		c := store.DefaultConfig()
		mutate(&c)
		err := ValidateConfig(&c)
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%s: want a FieldError, got %v", field, err)
			continue
		}
		if fe.Field != field || !strings.HasPrefix(err.Error(), field+":") {
			t.Errorf("%s: error names %q: %v", field, fe.Field, err)
		}
	}
}

func TestValidateScenario(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "faults:\n  - {at: 1s, nemesis: kill, hold: 2s}\n  - {at: 5s, nemesis: pause, select: leader, hold: 1s}\n")
	c := store.DefaultConfig()
	c.Scenario = good
	if err := ValidateConfig(&c); err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Nemeses, ",") != "kill,pause" || c.Name != "raft-register-kill-pause" {
		t.Errorf("nemeses %v, name %q: want them taken from the scenario", c.Nemeses, c.Name)
	}
	if err := ValidateConfig(&c); err != nil {
		t.Errorf("validating twice (as replay does): %v", err)
	}
	for field, mutate := range map[string]func(*store.Config){
		"scenario": func(c *store.Config) { c.Scenario = filepath.Join(dir, "missing.yaml") },
		"nemesis":  func(c *store.Config) { c.Scenario, c.Nemeses = good, []string{"partition"} },
	} {
		c := store.DefaultConfig()
		mutate(&c)
		var fe *FieldError
		if err := ValidateConfig(&c); !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: want a FieldError naming it, got %v", field, err)
		}
	}
	c = store.DefaultConfig()
	c.Scenario, c.TimeLimit = good, 5*time.Second
	if err := ValidateConfig(&c); err == nil || !strings.Contains(err.Error(), "after --time-limit 5s") {
		t.Errorf("a scenario longer than the run: %v", err)
	}
	c = store.DefaultConfig()
	c.Scenario = write("bad.yaml", "faults:\n  - {at: 1s, nemesis: kill, hold: 2s}\n  - {at: 2s, nemesis: meteor, hold: 1s}\n")
	if err := ValidateConfig(&c); err == nil || !strings.Contains(err.Error(), "faults[1]: nemesis") {
		t.Errorf("bad scenario: %v", err)
	}
}

func TestValidateNemesisOverlap(t *testing.T) {
	c := store.DefaultConfig()
	c.Nemeses, c.NemesisOverlap = []string{"kill", "clock-strobe"}, true
	if err := ValidateConfig(&c); err != nil {
		t.Fatal(err)
	}
	for _, mutate := range []func(*store.Config){
		func(c *store.Config) { c.Nemeses = []string{"kill", "disk-eio"} },
		func(c *store.Config) { c.Nemeses, c.Scenario = nil, "some.yaml" },
	} {
		c := store.DefaultConfig()
		c.NemesisOverlap = true
		mutate(&c)
		var fe *FieldError
		if err := ValidateConfig(&c); !errors.As(err, &fe) || fe.Field != "nemesis-overlap" {
			t.Errorf("want a FieldError naming nemesis-overlap, got %v", err)
		}
	}
}

// A rate that is not a finite positive number is refused (NaN is not <= 0).
func TestValidateRateNotANumber(t *testing.T) {
	for _, r := range []float64{math.NaN(), math.Inf(1), 0} {
		c := store.DefaultConfig()
		c.Rate = r
		var fe *FieldError
		if err := ValidateConfig(&c); !errors.As(err, &fe) || fe.Field != "rate" {
			t.Errorf("rate %v: %v, want a rate FieldError", r, err)
		}
	}
}

// Nemesis selections come from the target's roles: crdt declares none, so
// a nemesis or a scenario fault that needs the leader is refused with a
// FieldError saying so, while raft, which has a leader, accepts both.
func TestValidateRoles(t *testing.T) {
	crdt := func() store.Config {
		c := store.DefaultConfig()
		c.Target, c.Workload = "crdt", "set"
		return c
	}
	wantField := func(t *testing.T, err error, field string, parts ...string) {
		t.Helper()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Fatalf("want a FieldError naming %s, got %v", field, err)
		}
		for _, p := range parts {
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error %q does not say %q", err, p)
			}
		}
	}

	c := crdt()
	c.Nemeses = []string{"kill", "partition-leader"}
	wantField(t, ValidateConfig(&c), "nemesis", "partition-leader", "leader role", "target crdt")

	c = crdt()
	c.Nemeses = []string{"kill", "pause", "partition", "clock-strobe", "msg-drop"}
	if err := ValidateConfig(&c); err != nil {
		t.Errorf("crdt with nemeses whose selections need no role: %v", err)
	}

	c = store.DefaultConfig()
	c.Nemeses = []string{"partition-leader"}
	if err := ValidateConfig(&c); err != nil {
		t.Errorf("raft with partition-leader: %v", err)
	}

	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c = crdt()
	c.Scenario = write("leader.yaml", "faults: [{at: 1s, nemesis: kill, select: leader, hold: 1s}]\n")
	wantField(t, ValidateConfig(&c), "scenario", "faults[0]", "select leader", "leader role")

	c = crdt()
	c.Scenario = write("later.yaml", "faults:\n  - {at: 1s, nemesis: pause, hold: 1s}\n  - {at: 3s, nemesis: partition-leader, hold: 1s}\n")
	wantField(t, ValidateConfig(&c), "scenario", "faults[1]", "partition-leader")

	c = crdt()
	c.Scenario = write("one.yaml", "faults: [{at: 1s, nemesis: kill, select: one, hold: 1s}]\n")
	if err := ValidateConfig(&c); err != nil {
		t.Errorf("crdt scenario with select one: %v", err)
	}

	c = store.DefaultConfig()
	c.Scenario = write("raft.yaml", "faults: [{at: 1s, nemesis: kill, select: leader, hold: 1s}]\n")
	if err := ValidateConfig(&c); err != nil {
		t.Errorf("raft scenario with select leader: %v", err)
	}
}

// A workload the target does not serve is refused naming the ones it does.
func TestValidateWorkloadOfTarget(t *testing.T) {
	c := store.DefaultConfig()
	c.Target, c.Workload = "crdt", "bank"
	err := ValidateConfig(&c)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "workload" {
		t.Fatalf("want a FieldError naming workload, got %v", err)
	}
	for _, w := range []string{"crdt", "counter", "set", "register", "lww-register", "mv-register"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not name %s", err, w)
		}
	}
	for _, w := range []string{"counter", "set", "register", "lww-register", "mv-register"} {
		c := store.DefaultConfig()
		c.Target, c.Workload, c.Nemeses = "crdt", w, []string{"kill"}
		if err := ValidateConfig(&c); err != nil {
			t.Errorf("crdt %s: %v", w, err)
		}
	}
	c = store.DefaultConfig()
	c.Workload = "counter" // a workload raft does not serve
	if err := ValidateConfig(&c); err == nil || !strings.Contains(err.Error(), "workload") {
		t.Errorf("raft counter: %v, want a workload error", err)
	}
}
