package core

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestPurity keeps the core a pure state machine: no clock, no I/O, no
// goroutine machinery and no global randomness among its imports.
func TestPurity(t *testing.T) {
	forbidden := []string{"time", "os", "net", "sync", "io", "log", "crypto/rand", "context", "syscall", "unsafe"}
	// math/rand/v2 is allowed for its seeded generators only.
	randUse := regexp.MustCompile(`(?:^|[^.\w])rand\.([A-Z]\w*)`)
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbidden {
				if path == bad || strings.HasPrefix(path, bad+"/") {
					t.Errorf("%s imports %q", f, path)
				}
			}
			if path == "math/rand" {
				t.Errorf("%s imports math/rand; use a seeded math/rand/v2 generator", f)
			}
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range randUse.FindAllStringSubmatch(string(src), -1) {
			if m[1] != "New" && m[1] != "NewPCG" && m[1] != "Rand" {
				t.Errorf("%s uses rand.%s: global randomness", f, m[1])
			}
		}
	}
}
