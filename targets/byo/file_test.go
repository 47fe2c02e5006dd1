package byo

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/targets"
)

// fakeProgram makes an executable file named name in dir.
func fakeProgram(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseProcessForm(t *testing.T) {
	dir := t.TempDir()
	prog := fakeProgram(t, dir, "kv")
	tg, err := Parse([]byte(`
name: kv
command: [./kv, --listen, "{addr}", --peers, "{peers}", --data, "{data}", "--me={id}@{host}:{port}#{index}"]
port: 9000
health: /ready
client: http-register
timeout: 750ms
`), dir)
	if err != nil {
		t.Fatal(err)
	}
	bin, image := tg.NodeProgram()
	if bin != prog || image != "" {
		t.Errorf("program %q image %q, want %q", bin, image, prog)
	}
	if tg.Name() != "kv" || tg.Port() != 9000 || tg.health != "/ready" || tg.timeout != 750*time.Millisecond {
		t.Errorf("parsed %+v", tg)
	}
	peers := []cluster.Peer{{ID: "n1", Addr: "10.0.0.2:9000"}, {ID: "n2", Addr: "10.0.0.3:9000"}}
	got := tg.NodeCommand(peers[1], peers, "/data", nil, 7)
	want := []string{"--listen", "10.0.0.3:9000", "--peers", "n1=10.0.0.2:9000,n2=10.0.0.3:9000", "--data", "/data",
		"--me=n2@10.0.0.3:9000#2"}
	if !slices.Equal(got, want) {
		t.Errorf("NodeCommand\n got %q\nwant %q", got, want)
	}
}

func TestParseImageFormAndDefaults(t *testing.T) {
	tg, err := Parse([]byte("name: kv\nimage: example/kv:1\ncommand: [\"{id}\"]\nclient: http-register\n"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bin, image := tg.NodeProgram()
	if bin != "" || image != "example/kv:1" {
		t.Errorf("program %q image %q", bin, image)
	}
	if tg.Port() != DefaultPort || tg.health != "" || tg.timeout != 0 {
		t.Errorf("defaults: port %d health %q timeout %v", tg.Port(), tg.health, tg.timeout)
	}
	// For an image, every command element is an argument of the container.
	if got := tg.NodeCommand(cluster.Peer{ID: "n3", Addr: "h:1"}, nil, "/data", nil, 0); !slices.Equal(got, []string{"n3"}) {
		t.Errorf("NodeCommand %q", got)
	}
}

func TestParseProgramFromPath(t *testing.T) {
	dir := t.TempDir()
	prog := fakeProgram(t, dir, "my-kv-server")
	t.Setenv("PATH", dir)
	tg, err := Parse([]byte("name: kv\ncommand: [my-kv-server]\nclient: http-register\n"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if bin, _ := tg.NodeProgram(); bin != prog {
		t.Errorf("program %q, want %q", bin, prog)
	}
}

func TestParseErrorsNameFieldAndLine(t *testing.T) {
	dir := t.TempDir()
	fakeProgram(t, dir, "kv")
	if err := os.WriteFile(filepath.Join(dir, "data.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	registerStandIn.Do(func() { targets.Register(bundledStandIn{}) }) // once, whatever -count
	const ok = "client: http-register\n"
	cases := []struct {
		name, file, field string
		line              int
		msg               string
	}{
		{"unknown field", "name: kv\ncomand: [./kv]\n" + ok, "comand", 2, "unknown field"},
		{"no name", "command: [./kv]\n" + ok, "name", 0, "missing"},
		{"bad name", "name: 'my kv'\ncommand: [./kv]\n" + ok, "name", 1, "letters, digits"},
		{"bundled name", "name: standin-bundled\ncommand: [./kv]\n" + ok, "name", 1, "bundled target"},
		{"no client", "name: kv\ncommand: [./kv]\n", "client", 0, "missing"},
		{"unknown client", "name: kv\ncommand: [./kv]\nclient: grpc-kv\n", "client", 3, "unknown client protocol"},
		{"no program", "name: kv\n" + ok, "command", 0, "give command"},
		{"command not a list", "name: kv\ncommand: ./kv --listen {addr}\n" + ok, "command", 2, "want a list"},
		{"empty command", "name: kv\ncommand: []\n" + ok, "command", 2, "empty"},
		{"command element a map", "name: kv\ncommand:\n  - ./kv\n  - {a: 1}\n" + ok, "command[1]", 4, "want a string"},
		{"unknown placeholder", "name: kv\ncommand: [./kv, --at, \"{adress}\"]\n" + ok, "command[2]", 2, "unknown placeholder {adress}"},
		{"placeholder in program", "name: kv\ncommand: [\"./{id}\"]\n" + ok, "command[0]", 2, "may not hold placeholders"},
		{"missing program", "name: kv\ncommand: [./nope]\n" + ok, "command[0]", 2, "no such file"},
		{"program not executable", "name: kv\ncommand: [./data.txt]\n" + ok, "command[0]", 2, "not executable"},
		{"program a directory", "name: kv\ncommand: [./]\n" + ok, "command[0]", 2, "is a directory"},
		{"program not in PATH", "name: kv\ncommand: [no-such-program-anywhere]\n" + ok, "command[0]", 2, "not in $PATH"},
		{"bad port", "name: kv\ncommand: [./kv]\nport: 70000\n" + ok, "port", 3, "TCP port"},
		{"port not a number", "name: kv\ncommand: [./kv]\nport: http\n" + ok, "port", 3, "TCP port"},
		{"health not a path", "name: kv\ncommand: [./kv]\nhealth: health\n" + ok, "health", 3, "starting with /"},
		{"timeout without unit", "name: kv\ncommand: [./kv]\ntimeout: 5\n" + ok, "timeout", 3, "duration"},
		{"negative timeout", "name: kv\ncommand: [./kv]\ntimeout: -1s\n" + ok, "timeout", 3, "positive"},
		{"image a list", "name: kv\nimage: [a]\n" + ok, "image", 2, "single value"},
		{"field twice", "name: kv\nname: kv2\ncommand: [./kv]\n" + ok, "name", 2, "given twice (first at line 1)"},
		{"not a mapping", "- name: kv\n", "(top level)", 1, "want a mapping"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.file), dir)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v, want a *FieldError", err)
			}
			if fe.Field != c.field || fe.Line != c.line || !strings.Contains(fe.Msg, c.msg) {
				t.Errorf("got field %q line %d %q; want field %q line %d and %q", fe.Field, fe.Line, fe.Msg, c.field, c.line, c.msg)
			}
		})
	}
}

func TestParseRejectsWhatIsNotATargetFile(t *testing.T) {
	for name, file := range map[string]string{
		"empty":    "",
		"comments": "# nothing here\n",
		"bad yaml": "name: kv\n  command: [./kv\n",
	} {
		if _, err := Parse([]byte(file), t.TempDir()); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	_, err := Parse([]byte("name: kv\n  command: [./kv\n"), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a YAML syntax error should name its line: %v", err)
	}
}

func TestRefusesSeamNemeses(t *testing.T) {
	tg := &Target{name: "kv"}
	for _, n := range []string{"clock-drift", "disk-eio", "msg-delay"} {
		if err := tg.RefuseNemesis(n); err == nil || !strings.Contains(err.Error(), "admin endpoint") {
			t.Errorf("%s: %v", n, err)
		}
	}
	for _, n := range []string{"kill", "pause", "partition", "loss"} {
		if err := tg.RefuseNemesis(n); err != nil {
			t.Errorf("%s refused: %v", n, err)
		}
	}
}

// bundledStandIn is a registered target whose name a target file may not
// take.
type bundledStandIn struct{ targets.Target }

var registerStandIn sync.Once

func (bundledStandIn) Name() string { return "standin-bundled" }
