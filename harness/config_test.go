package harness

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/faultline-io/faultline/targets/crdt"
	_ "github.com/faultline-io/faultline/targets/raft"
)

func TestDefaultConfigIsValid(t *testing.T) {
	c := DefaultConfig()
	c.Nemeses = []string{"kill", "pause"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Name != "raft-register-kill-pause" {
		t.Errorf("derived name %q", c.Name)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	cases := map[string]func(*Config){
		"target":           func(c *Config) { c.Target = "zookeeper" },
		"workload":         func(c *Config) { c.Workload = "bank" },
		"nemesis":          func(c *Config) { c.Nemeses = []string{"kill", "meteor"} },
		"bug":              func(c *Config) { c.Bugs = []string{"nope"} },
		"nodes":            func(c *Config) { c.Nodes = 0 },
		"concurrency":      func(c *Config) { c.Concurrency = 0 },
		"rate":             func(c *Config) { c.Rate = -1 },
		"time-limit":       func(c *Config) { c.TimeLimit = 0 },
		"nemesis-interval": func(c *Config) { c.NemesisInterval = 0 },
		"checker-timeout":  func(c *Config) { c.CheckerTimeout = -time.Second },
		"runtime":          func(c *Config) { c.Runtime = "kubernetes" },
		"name":             func(c *Config) { c.Name = "../escape" },
	}
	for field, mutate := range cases {
		c := DefaultConfig()
		mutate(&c)
		err := c.Validate()
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

func TestNewRunDirAndLatest(t *testing.T) {
	store := t.TempDir()
	now := time.Date(2026, 11, 25, 20, 11, 41, 0, time.UTC)
	a, err := newRunDir(store, "t", now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := newRunDir(store, "t", now) // same second: must not collide
	if err != nil {
		t.Fatal(err)
	}
	if a == b || filepath.Base(a) != "20261125T201141" {
		t.Fatalf("run dirs %s and %s", a, b)
	}
	target, err := os.Readlink(filepath.Join(store, "latest"))
	if err != nil || filepath.Join(store, target) != b {
		t.Fatalf("latest -> %s (%v), want %s", target, err, b)
	}
}

// TestNewRunDirConcurrent: runs sharing a store make their directories
// and link latest at the same time without failing (a campaign's
// parallel runs, two terminals).
func TestNewRunDirConcurrent(t *testing.T) {
	store := t.TempDir()
	now := time.Date(2026, 11, 25, 20, 11, 41, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if _, err := newRunDir(store, fmt.Sprintf("t%d", i%4), now); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, err := os.Readlink(filepath.Join(store, "latest")); err != nil {
		t.Errorf("latest: %v", err)
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
	c := DefaultConfig()
	c.Scenario = good
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Nemeses, ",") != "kill,pause" || c.Name != "raft-register-kill-pause" {
		t.Errorf("nemeses %v, name %q: want them taken from the scenario", c.Nemeses, c.Name)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("validating twice (as replay does): %v", err)
	}
	for field, mutate := range map[string]func(*Config){
		"scenario": func(c *Config) { c.Scenario = filepath.Join(dir, "missing.yaml") },
		"nemesis":  func(c *Config) { c.Scenario, c.Nemeses = good, []string{"partition"} },
	} {
		c := DefaultConfig()
		mutate(&c)
		var fe *FieldError
		if err := c.Validate(); !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: want a FieldError naming it, got %v", field, err)
		}
	}
	c = DefaultConfig()
	c.Scenario, c.TimeLimit = good, 5*time.Second
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "after --time-limit 5s") {
		t.Errorf("a scenario longer than the run: %v", err)
	}
	c = DefaultConfig()
	c.Scenario = write("bad.yaml", "faults:\n  - {at: 1s, nemesis: kill, hold: 2s}\n  - {at: 2s, nemesis: meteor, hold: 1s}\n")
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "faults[1]: nemesis") {
		t.Errorf("bad scenario: %v", err)
	}
}

func TestValidateNemesisOverlap(t *testing.T) {
	c := DefaultConfig()
	c.Nemeses, c.NemesisOverlap = []string{"kill", "clock-strobe"}, true
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, mutate := range []func(*Config){
		func(c *Config) { c.Nemeses = []string{"kill", "disk-eio"} },
		func(c *Config) { c.Nemeses, c.Scenario = nil, "some.yaml" },
	} {
		c := DefaultConfig()
		c.NemesisOverlap = true
		mutate(&c)
		var fe *FieldError
		if err := c.Validate(); !errors.As(err, &fe) || fe.Field != "nemesis-overlap" {
			t.Errorf("want a FieldError naming nemesis-overlap, got %v", err)
		}
	}
}

// A rate that is not a finite positive number is refused (NaN is not <= 0).
func TestValidateRateNotANumber(t *testing.T) {
	for _, r := range []float64{math.NaN(), math.Inf(1), 0} {
		c := DefaultConfig()
		c.Rate = r
		var fe *FieldError
		if err := c.Validate(); !errors.As(err, &fe) || fe.Field != "rate" {
			t.Errorf("rate %v: %v, want a rate FieldError", r, err)
		}
	}
}

// Nemesis selections come from the target's roles: crdt declares none, so
// a nemesis or a scenario fault that needs the leader is refused with a
// FieldError saying so, while raft, which has a leader, accepts both.
func TestValidateRoles(t *testing.T) {
	crdt := func() Config {
		c := DefaultConfig()
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
	wantField(t, c.Validate(), "nemesis", "partition-leader", "leader role", "target crdt")

	c = crdt()
	c.Nemeses = []string{"kill", "pause", "partition", "clock-strobe", "msg-drop"}
	if err := c.Validate(); err != nil {
		t.Errorf("crdt with nemeses whose selections need no role: %v", err)
	}

	c = DefaultConfig()
	c.Nemeses = []string{"partition-leader"}
	if err := c.Validate(); err != nil {
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
	wantField(t, c.Validate(), "scenario", "faults[0]", "select leader", "leader role")

	c = crdt()
	c.Scenario = write("later.yaml", "faults:\n  - {at: 1s, nemesis: pause, hold: 1s}\n  - {at: 3s, nemesis: partition-leader, hold: 1s}\n")
	wantField(t, c.Validate(), "scenario", "faults[1]", "partition-leader")

	c = crdt()
	c.Scenario = write("one.yaml", "faults: [{at: 1s, nemesis: kill, select: one, hold: 1s}]\n")
	if err := c.Validate(); err != nil {
		t.Errorf("crdt scenario with select one: %v", err)
	}

	c = DefaultConfig()
	c.Scenario = write("raft.yaml", "faults: [{at: 1s, nemesis: kill, select: leader, hold: 1s}]\n")
	if err := c.Validate(); err != nil {
		t.Errorf("raft scenario with select leader: %v", err)
	}
}

// A workload the target does not serve is refused naming the ones it does.
func TestValidateWorkloadOfTarget(t *testing.T) {
	c := DefaultConfig()
	c.Target, c.Workload = "crdt", "bank"
	err := c.Validate()
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
		c := DefaultConfig()
		c.Target, c.Workload, c.Nemeses = "crdt", w, []string{"kill"}
		if err := c.Validate(); err != nil {
			t.Errorf("crdt %s: %v", w, err)
		}
	}
	c = DefaultConfig()
	c.Workload = "counter" // a workload raft does not serve
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "workload") {
		t.Errorf("raft counter: %v, want a workload error", err)
	}
}
