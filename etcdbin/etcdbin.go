// Package etcdbin provides the etcd server binary that the etcd target runs:
// a static (CGO_ENABLED=0) build of the release pinned in Version, made once
// with the go command and kept in a cache shared by every run on the
// machine.
//
// The etcd server is its own Go module, so that the faultline module never
// depends on it. Its go.mod, go.sum and main.go live in module/ as
// go.mod.txt, go.sum.txt and main.go.txt (embedded below; go:embed cannot
// read a file of another module, which a file named go.mod would make), and
// the etcdserver/ directory at the repository root holds symbolic links to
// them, so that `cd etcdserver && go mod tidy` or `go get` edits the embedded
// files themselves. TestModuleFiles fails if the two ever differ.
package etcdbin

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

// Version is the etcd server release that Ensure builds: the version of
// go.etcd.io/etcd/server/v3 required by module/go.mod.txt (a test keeps the
// two equal).
const Version = "v3.6.16"

// The etcd server module, written to a temporary directory and built there.
var (
	//go:embed module/go.mod.txt
	goMod []byte
	//go:embed module/go.sum.txt
	goSum []byte
	//go:embed module/main.go.txt
	mainGo []byte
)

// EnvBinary names the environment variable that, when set, is the path of
// the etcd binary to use instead of the cache: for a machine without Go.
const EnvBinary = "FAULTLINE_ETCD"

// EnvCache names the environment variable that, when set, is the cache
// directory instead of os.UserCacheDir()/faultline.
const EnvCache = "FAULTLINE_CACHE"

// lockPoll is how often Ensure tries again for the lock that another
// process building etcd holds.
const lockPoll = 200 * time.Millisecond

// Ensure returns the path of a static etcd binary of Version for this
// machine's OS and architecture.
//
// $FAULTLINE_ETCD, when set, overrides everything: Ensure returns it if the
// file exists and never builds. Otherwise the binary is
// <cache>/etcd-<Version>, where <cache> is $FAULTLINE_CACHE or
// os.UserCacheDir()/faultline; if it is missing, Ensure builds it with the
// go command on PATH (`go build -trimpath -ldflags=-s` with CGO_ENABLED=0),
// which takes a minute or two and downloads the modules the first time,
// writing progress lines to progress (nil: none).
//
// Concurrent callers, in this process or others, are safe: the build runs
// under an exclusive flock on <cache>/etcd-<Version>.lock, and the binary
// appears by an atomic rename, so a caller sees no file or a whole one. A
// caller waiting for another's build gives up when ctx is done; a cancelled
// build kills the go command and leaves no binary.
func Ensure(ctx context.Context, progress io.Writer) (path string, err error) {
	if progress == nil {
		progress = io.Discard
	}
	if p := os.Getenv(EnvBinary); p != "" {
		fi, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvBinary, p, err)
		}
		if fi.IsDir() {
			return "", fmt.Errorf("%s=%s is a directory, not an etcd binary", EnvBinary, p)
		}
		return p, nil
	}
	dir, err := cacheDir()
	if err != nil {
		return "", err
	}
	path = filepath.Join(dir, "etcd-"+Version)
	if regular(path) {
		return path, nil
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("etcd %s is not in the cache (%s) and building it needs the go command, which is not on PATH (%v): "+
			"run `make etcd` on a machine with Go, or set %s to a static etcd binary", Version, path, err, EnvBinary)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("etcd cache: %w", err)
	}
	unlock, err := lock(ctx, path+".lock", progress)
	if err != nil {
		return "", err
	}
	defer unlock()
	if regular(path) { // another process built it while we waited
		return path, nil
	}
	fmt.Fprintf(progress, "etcd: building etcd %s (first use, a minute or two; cached in %s)\n", Version, path)
	start := time.Now()
	if err := build(ctx, goCmd, path); err != nil {
		return "", err
	}
	size := ""
	if fi, err := os.Stat(path); err == nil {
		size = fmt.Sprintf(", %.0f MiB", float64(fi.Size())/(1<<20))
	}
	fmt.Fprintf(progress, "etcd: built in %v%s\n", time.Since(start).Round(100*time.Millisecond), size)
	return path, nil
}

// Beside returns the path of the etcd binary next to the faultline
// executable exe: dir(exe)/etcd. In a node image the binaries are
// /faultline and /etcd.
func Beside(exe string) string {
	return filepath.Join(filepath.Dir(exe), "etcd")
}

// cacheDir is $FAULTLINE_CACHE, else os.UserCacheDir()/faultline.
func cacheDir() (string, error) {
	if d := os.Getenv(EnvCache); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory for the etcd binary (%v): set %s or %s", err, EnvCache, EnvBinary)
	}
	return filepath.Join(d, "faultline"), nil
}

// regular reports whether path is an existing regular file.
func regular(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// lock takes an exclusive flock on path, polling so that ctx can end the
// wait, and returns its release. The kernel drops the lock when the process
// dies, so a killed build never blocks the next one.
func lock(ctx context.Context, path string, progress io.Writer) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("etcd cache lock: %w", err)
	}
	fd := int(f.Fd())
	for told := false; ; {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("etcd cache lock %s: %w", path, err)
		}
		if !told {
			fmt.Fprintf(progress, "etcd: waiting for another build of etcd %s (lock %s)\n", Version, path)
			told = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for the etcd build lock %s: %w", path, context.Cause(ctx))
		case <-time.After(lockPoll):
		}
	}
	return func() {
		_ = syscall.Flock(fd, syscall.LOCK_UN)
		f.Close()
	}, nil
}

// build writes the embedded module to a temporary directory and builds it
// into out+".tmp", then renames that to out. The caller holds the lock, so
// the .tmp name is its own.
func build(ctx context.Context, goCmd, out string) (err error) {
	src, err := os.MkdirTemp("", "faultline-etcd-build-")
	if err != nil {
		return fmt.Errorf("build etcd: %w", err)
	}
	defer os.RemoveAll(src)
	for name, data := range map[string][]byte{"go.mod": goMod, "go.sum": goSum, "main.go": mainGo} {
		if err := os.WriteFile(filepath.Join(src, name), data, 0o644); err != nil {
			return fmt.Errorf("build etcd: %w", err)
		}
	}
	tmp := out + ".tmp"
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	cmd := exec.CommandContext(ctx, goCmd, "build", "-trimpath", "-ldflags=-s", "-o", tmp, ".")
	cmd.Dir = src
	// The binary runs on this machine or in a container on it; the
	// caller's GOFLAGS (say -mod=vendor) or go.work must not change the
	// build. Later entries override earlier ones.
	cmd.Env = append(os.Environ(),
		"CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH,
		"GOFLAGS=-mod=readonly", "GOWORK=off")
	var output tail
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("build etcd %s: %w", Version, context.Cause(ctx))
		}
		return fmt.Errorf("build etcd %s with %s: %v\n%s", Version, goCmd, err, output.String())
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("build etcd: %w", err)
	}
	return nil
}

// tail keeps the last 8 KiB written to it: the end of a failed build's
// output, where the error is.
type tail struct{ b []byte }

const tailMax = 8 << 10

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > tailMax {
		t.b = append(t.b[:0], t.b[len(t.b)-tailMax:]...)
	}
	return len(p), nil
}

func (t *tail) String() string { return string(t.b) }
