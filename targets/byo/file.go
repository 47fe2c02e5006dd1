package byo

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/faultline-io/faultline/targets"
)

// DefaultPort is the port nodes listen on, where each node has its own
// address (docker, netns), when the file sets none.
const DefaultPort = 8080

// ClientHTTPRegister names the client protocol of docs/byo.md: a register
// per key over plain HTTP and JSON.
const ClientHTTPRegister = "http-register"

// Placeholders are the words that command arguments may hold in braces
// ({addr}); NodeCommand replaces them for each node.
var Placeholders = []string{"id", "addr", "host", "port", "peers", "data", "index"}

// fields are a target file's keys, in the order docs/byo.md lists them.
var fields = []string{"name", "command", "image", "port", "health", "client", "timeout"}

var (
	nameRE        = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	placeholderRE = regexp.MustCompile(`\{([A-Za-z_]+)\}`)
)

// FieldError is an error in a target file: the field it is about (a key,
// or an element such as command[2]) and, where the YAML gives one, the
// line.
type FieldError struct {
	Field string
	Line  int // 0 when unknown
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s: %s", e.Line, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Msg)
}

// Load reads and parses the target file at path; relative paths in it are
// resolved against its directory.
func Load(path string) (*Target, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	return Parse(b, filepath.Dir(abs))
}

// Parse parses a target file's content. dir is the directory a relative
// program path (command[0] with a slash in it) is resolved against: the
// file's own directory. A program without a slash is looked up in $PATH.
// The program must exist and be executable now. Errors are *FieldError
// whenever a field is to blame.
func Parse(b []byte, dir string) (*Target, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("not a YAML target file: %w", err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, errors.New("empty target file (want name, command or image, and client; see docs/byo.md)")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, &FieldError{"(top level)", root.Line, "want a mapping of fields (" + strings.Join(fields, ", ") + ")"}
	}
	t := &Target{port: DefaultPort}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if !slices.Contains(fields, k.Value) {
			return nil, &FieldError{k.Value, k.Line, "unknown field (known: " + strings.Join(fields, ", ") + ")"}
		}
		if prev := seen[k.Value]; prev != nil {
			return nil, &FieldError{k.Value, k.Line, fmt.Sprintf("given twice (first at line %d)", prev.Line)}
		}
		seen[k.Value] = k
		if err := t.set(k.Value, v); err != nil {
			return nil, err
		}
	}
	if t.name == "" {
		return nil, &FieldError{"name", 0, "missing (the target's name in run directories and reports)"}
	}
	if t.client == "" {
		return nil, &FieldError{"client", 0, "missing (want client: " + ClientHTTPRegister + ")"}
	}
	switch {
	case t.image == "" && seen["command"] == nil:
		return nil, &FieldError{"command", 0, "missing: give command (a program on this machine and its arguments) or image (a local Docker image)"}
	case t.image == "":
		// The process form: command[0] is the program.
		line := seen["command"].Line
		prog := t.args[0]
		if placeholderRE.MatchString(prog) {
			return nil, &FieldError{"command[0]", line, fmt.Sprintf("%q: the program may not hold placeholders", prog)}
		}
		bin, err := resolveProgram(prog, dir)
		if err != nil {
			return nil, &FieldError{"command[0]", line, err.Error()}
		}
		t.binary, t.args = bin, t.args[1:]
	}
	return t, nil
}

// set decodes field name from v into t.
func (t *Target) set(name string, v *yaml.Node) error {
	bad := func(format string, args ...any) error {
		return &FieldError{name, v.Line, fmt.Sprintf(format, args...)}
	}
	scalar := func() (string, error) {
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			return "", bad("want a single value")
		}
		return v.Value, nil
	}
	switch name {
	case "name":
		s, err := scalar()
		if err != nil {
			return err
		}
		if !nameRE.MatchString(s) {
			return bad("%q: use letters, digits, '.', '_' and '-', starting with a letter or digit", s)
		}
		if _, err := targets.Get(s); err == nil {
			return bad("%q is a bundled target's name; choose another", s)
		}
		t.name = s
	case "command":
		if v.Kind != yaml.SequenceNode {
			return bad("want a list: [program, arg, ...] (each argument its own element)")
		}
		if len(v.Content) == 0 {
			return bad("empty list")
		}
		for i, a := range v.Content {
			if a.Kind != yaml.ScalarNode || a.Tag == "!!null" {
				return &FieldError{fmt.Sprintf("command[%d]", i), a.Line, "want a string"}
			}
			for _, m := range placeholderRE.FindAllStringSubmatch(a.Value, -1) {
				if !slices.Contains(Placeholders, m[1]) {
					return &FieldError{fmt.Sprintf("command[%d]", i), a.Line,
						fmt.Sprintf("unknown placeholder %s (known: {%s})", m[0], strings.Join(Placeholders, "}, {"))}
				}
			}
			t.args = append(t.args, a.Value)
		}
	case "image":
		s, err := scalar()
		if err != nil {
			return err
		}
		if s == "" || strings.ContainsAny(s, " \t\n") {
			return bad("%q: want an image reference such as myorg/kv:1.2", s)
		}
		t.image = s
	case "port":
		s, err := scalar()
		if err != nil {
			return err
		}
		p, err := strconv.Atoi(s)
		if err != nil || p < 1 || p > 65535 {
			return bad("%q: want a TCP port, 1 to 65535", s)
		}
		t.port = p
	case "health":
		s, err := scalar()
		if err != nil {
			return err
		}
		if !strings.HasPrefix(s, "/") {
			return bad("%q: want an HTTP path starting with /, e.g. /health", s)
		}
		t.health = s
	case "client":
		s, err := scalar()
		if err != nil {
			return err
		}
		if s != ClientHTTPRegister {
			return bad("%q: unknown client protocol (known: %s)", s, ClientHTTPRegister)
		}
		t.client = s
	case "timeout":
		s, err := scalar()
		if err != nil {
			return err
		}
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return bad("%q: want a positive duration such as 500ms or 2s", s)
		}
		t.timeout = d
	}
	return nil
}

// resolveProgram returns the absolute path of program p: a path with a
// slash, relative to dir unless absolute, or a name looked up in $PATH.
func resolveProgram(p, dir string) (string, error) {
	if !strings.Contains(p, "/") {
		lp, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("%q is not in $PATH (give a path: absolute, or relative to the target file's directory)", p)
		}
		p = lp
	} else if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	p, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("%s: no such file (a relative path is resolved against the target file's directory %s; build the program first)", p, dir)
	case err != nil:
		return "", err
	case st.IsDir():
		return "", fmt.Errorf("%s is a directory, not a program", p)
	case st.Mode().Perm()&0o111 == 0:
		return "", fmt.Errorf("%s is not executable", p)
	}
	return p, nil
}

// expand replaces the placeholders in arg with self's values.
func expand(arg string, vals map[string]string) string {
	return placeholderRE.ReplaceAllStringFunc(arg, func(m string) string {
		if v, ok := vals[m[1:len(m)-1]]; ok {
			return v
		}
		return m
	})
}
