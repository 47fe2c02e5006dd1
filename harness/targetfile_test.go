package harness

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline-io/faultline/store"
)

// targetFile writes a target file (and an executable ./kv beside it) into
// a new directory and returns a config that uses it.
func targetFile(t *testing.T, content string) store.Config {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "kv"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "target.yaml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	c := store.DefaultConfig()
	c.TargetFile = path
	c.Runtime = "local"
	return c
}

const kvFile = "name: kv\ncommand: [./kv, --listen, \"{addr}\"]\nport: 9100\nclient: http-register\n"

func TestValidateTargetFileFillsDerivedFields(t *testing.T) {
	c := targetFile(t, kvFile)
	c.Nemeses = []string{"kill", "pause", "partition"}
	if err := ValidateConfig(&c); err != nil {
		t.Fatal(err)
	}
	if c.Target != "kv" || c.Port != 9100 || c.TargetDir != filepath.Dir(c.TargetFile) || len(c.TargetSHA256) != 64 {
		t.Errorf("derived target %q port %d dir %q sha %q", c.Target, c.Port, c.TargetDir, c.TargetSHA256)
	}
	if c.Name != "kv-register-kill-pause-partition" {
		t.Errorf("name %q", c.Name)
	}
	if got := AnsweredErrors(c); len(got) != 1 || got[0] != "cas-mismatch" {
		t.Errorf("AnsweredErrors %v", got)
	}
}

func TestValidateTargetFileRefusals(t *testing.T) {
	cases := []struct {
		name, file, field, msg string
		edit                   func(*store.Config)
	}{
		{"bad file", "name: kv\ncomand: [./kv]\nclient: http-register\n", "target-file", "line 2: comand: unknown field", nil},
		{"missing file", kvFile, "target-file", "no such file", func(c *store.Config) { c.TargetFile += ".nope" }},
		{"seam nemesis", kvFile, "nemesis", "admin endpoint", func(c *store.Config) { c.Nemeses = []string{"kill", "clock-jump"} }},
		{"role nemesis", kvFile, "nemesis", "leader role", func(c *store.Config) { c.Nemeses = []string{"partition-leader"} }},
		{"bug", kvFile, "bug", "seeded bugs", func(c *store.Config) { c.Bugs = []string{"stale-read"} }},
		{"workload", kvFile, "workload", "serves workloads [register]", func(c *store.Config) { c.Workload = "bank" }},
		{"node binary", kvFile, "node-binary", "its own program", func(c *store.Config) { c.Binary = "/bin/faultline" }},
		{"image on local", "name: kv\nimage: kv:1\nclient: http-register\n", "runtime", "only the docker runtime", nil},
		{"changed since recorded", kvFile, "target-file", "not the one recorded", func(c *store.Config) { c.TargetSHA256 = strings.Repeat("0", 64) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := targetFile(t, tc.file)
			if tc.edit != nil {
				tc.edit(&c)
			}
			err := ValidateConfig(&c)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Msg, tc.msg) {
				t.Errorf("got %v; want field %s with %q", err, tc.field, tc.msg)
			}
		})
	}
}

func TestValidateTargetFileImageRunsOnDocker(t *testing.T) {
	c := targetFile(t, "name: kv\nimage: kv:1\nclient: http-register\n")
	c.Runtime = "auto"
	if err := ValidateConfig(&c); err != nil {
		t.Fatal(err)
	}
	if c.Runtime != "docker" {
		t.Errorf("runtime %q, want docker for an image", c.Runtime)
	}
}

// TestKeepTargetFile: the run directory keeps the file a replay runs, and
// one that changed after validation is not run.
func TestKeepTargetFile(t *testing.T) {
	c := targetFile(t, kvFile)
	if err := ValidateConfig(&c); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := keepTargetFile(c, dir); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, store.TargetFileCopy)); err != nil || string(b) != kvFile {
		t.Fatalf("copy %q, %v", b, err)
	}
	if err := os.WriteFile(c.TargetFile, []byte(kvFile+"# edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := keepTargetFile(c, t.TempDir()); err == nil {
		t.Error("kept a file that changed after validation")
	}
}
