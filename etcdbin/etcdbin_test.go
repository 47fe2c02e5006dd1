package etcdbin

import (
	"bytes"
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestVersionMatchesModule keeps Version equal to the etcd server version
// that the embedded go.mod requires.
func TestVersionMatchesModule(t *testing.T) {
	m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?go\.etcd\.io/etcd/server/v3 (v\S+)`).FindSubmatch(goMod)
	if m == nil {
		t.Fatalf("module/go.mod.txt requires no go.etcd.io/etcd/server/v3:\n%s", goMod)
	}
	if got := string(m[1]); got != Version {
		t.Errorf("module/go.mod.txt requires go.etcd.io/etcd/server/v3 %s but Version is %s: change one", got, Version)
	}
	if !bytes.Contains(goSum, []byte("go.etcd.io/etcd/server/v3 "+Version+" h1:")) {
		t.Errorf("module/go.sum.txt has no hash of go.etcd.io/etcd/server/v3 %s: run `go mod tidy` in etcdserver/", Version)
	}
}

// TestModuleFiles fails if the etcdserver module at the repository root
// (where `go mod tidy` and `go get` run) differs from what Ensure builds.
// Its files are meant to be symbolic links to module/*.txt.
func TestModuleFiles(t *testing.T) {
	for name, embedded := range map[string][]byte{"go.mod": goMod, "go.sum": goSum, "main.go": mainGo} {
		path := filepath.Join("..", "etcdserver", name)
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("read %s: %v", path, err)
			continue
		}
		if !bytes.Equal(got, embedded) {
			t.Errorf("%s differs from etcdbin/module/%s.txt, which Ensure builds: "+
				"make %s a symbolic link again (ln -sf ../etcdbin/module/%s.txt %s) after copying any change into the .txt",
				path, name, path, name, path)
		}
	}
}

// TestMainModuleHasNoEtcdServer: the etcd server stays out of faultline's
// own dependencies.
func TestMainModuleHasNoEtcdServer(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("go.etcd.io/etcd/server")) {
		t.Error("faultline's go.mod requires go.etcd.io/etcd/server; it belongs in etcdserver/go.mod only")
	}
}

func TestBeside(t *testing.T) {
	for exe, want := range map[string]string{
		"/faultline":                "/etcd",
		"/home/u/faultline/bin/fl":  "/home/u/faultline/bin/etcd",
		"faultline":                 "etcd",
		"/tmp/go-build1/b001/x.exe": "/tmp/go-build1/b001/etcd",
	} {
		if got := Beside(exe); got != want {
			t.Errorf("Beside(%q) = %q, want %q", exe, got, want)
		}
	}
}

func TestEnsureOverride(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "my-etcd")
	if err := os.WriteFile(bin, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvCache, t.TempDir())
	t.Setenv("PATH", t.TempDir()) // no go: the override never builds
	t.Setenv(EnvBinary, bin)
	if got, err := Ensure(context.Background(), nil); err != nil || got != bin {
		t.Errorf("Ensure = %q, %v; want %q", got, err, bin)
	}
	t.Setenv(EnvBinary, bin+"-missing")
	if _, err := Ensure(context.Background(), nil); err == nil || !strings.Contains(err.Error(), EnvBinary) {
		t.Errorf("missing override: %v", err)
	}
	t.Setenv(EnvBinary, filepath.Dir(bin))
	if _, err := Ensure(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("directory override: %v", err)
	}
}

// TestEnsureCached: a cached binary is returned as is, without the go
// command.
func TestEnsureCached(t *testing.T) {
	cache := t.TempDir()
	t.Setenv(EnvCache, cache)
	t.Setenv(EnvBinary, "")
	t.Setenv("PATH", t.TempDir())
	want := filepath.Join(cache, "etcd-"+Version)
	if err := os.WriteFile(want, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	if got, err := Ensure(context.Background(), &progress); err != nil || got != want {
		t.Errorf("Ensure = %q, %v; want %q", got, err, want)
	}
	if progress.Len() != 0 {
		t.Errorf("progress for a cached binary: %q", progress.String())
	}
}

func TestEnsureWithoutGo(t *testing.T) {
	t.Setenv(EnvCache, t.TempDir())
	t.Setenv(EnvBinary, "")
	t.Setenv("PATH", t.TempDir())
	_, err := Ensure(context.Background(), nil)
	if err == nil {
		t.Fatal("Ensure without go and without a cached binary succeeded")
	}
	for _, want := range []string{"go command", "make etcd", EnvBinary} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q: %v", want, err)
		}
	}
	t.Log(err)
}

// TestEnsureWaitsForLock: while another holder has the lock, Ensure waits
// (and gives up with ctx); when the holder leaves a binary, Ensure returns
// it without building.
func TestEnsureWaitsForLock(t *testing.T) {
	cache := t.TempDir()
	t.Setenv(EnvCache, cache)
	t.Setenv(EnvBinary, "")
	t.Setenv("PATH", fakeGo(t, "exit 3")) // a build would fail
	path := filepath.Join(cache, "etcd-"+Version)
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// flock locks belong to the open file: Ensure's own open conflicts
	// with this one, as another process's would.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*lockPoll)
	defer cancel()
	var progress bytes.Buffer
	if _, err := Ensure(ctx, &progress); err == nil || !strings.Contains(err.Error(), "lock") {
		t.Errorf("Ensure with the lock held elsewhere: %v", err)
	}
	if !strings.Contains(progress.String(), "waiting for another build") {
		t.Errorf("progress %q", progress.String())
	}

	done := make(chan error, 1)
	var got string
	go func() {
		var err error
		got, err = Ensure(context.Background(), nil)
		done <- err
	}()
	time.Sleep(2 * lockPoll)
	if err := os.WriteFile(path, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil || got != path {
		t.Errorf("Ensure after the holder built: %q, %v", got, err)
	}
}

// TestEnsureBuildFails: a failed build returns the go command's output and
// leaves nothing in the cache but the lock file.
func TestEnsureBuildFails(t *testing.T) {
	cache := t.TempDir()
	t.Setenv(EnvCache, cache)
	t.Setenv(EnvBinary, "")
	t.Setenv("PATH", fakeGo(t, `echo "main.go:1: no etcd today" >&2; echo junk > "$5"; exit 1`))
	_, err := Ensure(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "no etcd today") {
		t.Fatalf("Ensure with a failing go: %v", err)
	}
	entries, _ := os.ReadDir(cache)
	for _, e := range entries {
		if e.Name() != "etcd-"+Version+".lock" {
			t.Errorf("left in the cache: %s", e.Name())
		}
	}
}

// fakeGo returns a directory holding a `go` shell script with body.
func fakeGo(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go"), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir + string(os.PathListSeparator) + "/bin" + string(os.PathListSeparator) + "/usr/bin"
}

// TestEnsureBuild builds the real etcd server (a minute or two, more with
// an empty module cache) into an empty cache from two callers at once: one
// builds, the other waits for it; the result is a static ELF that reports
// the pinned version.
func TestEnsureBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the etcd server (minutes); skipped with -short")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skipf("needs the go command: %v", err)
	}
	cache := t.TempDir()
	t.Setenv(EnvCache, cache)
	t.Setenv(EnvBinary, "")
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()
	var (
		wg       sync.WaitGroup
		paths    [2]string
		errs     [2]error
		progress [2]bytes.Buffer
	)
	start := time.Now()
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			paths[i], errs[i] = Ensure(ctx, &progress[i])
		}()
	}
	wg.Wait()
	for i := range 2 {
		t.Logf("caller %d: %s", i, progress[i].String())
		if errs[i] != nil {
			t.Fatalf("Ensure: %v", errs[i])
		}
	}
	path := paths[0]
	if paths[1] != path || path != filepath.Join(cache, "etcd-"+Version) {
		t.Errorf("paths %q", paths)
	}
	builds := strings.Count(progress[0].String()+progress[1].String(), "etcd: building")
	if builds != 1 {
		t.Errorf("%d builds, want 1", builds)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("etcd %s built in %v: %d bytes", Version, time.Since(start).Round(time.Second), fi.Size())

	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("not an ELF file: %v", err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("dynamically linked: has an interpreter")
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("shared libraries %v (%v)", libs, err)
	}
	f.Close()

	out, err := exec.CommandContext(ctx, path, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("etcd --version: %v\n%s", err, out)
	}
	if want := "etcd Version: " + strings.TrimPrefix(Version, "v") + "\n"; !strings.Contains(string(out), want) {
		t.Errorf("etcd --version printed %q, want a line %q", out, want)
	}

	if again, err := Ensure(ctx, &progress[0]); err != nil || again != path {
		t.Errorf("second Ensure: %q, %v", again, err)
	}
}
