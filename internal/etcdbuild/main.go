// Command etcdbuild makes the etcd server binary of the etcd target
// (etcdbin.Ensure: built once into the cache, or $FAULTLINE_ETCD) and
// prints its path; with -o it also copies it there. `make etcd` runs it
// with -o bin/etcd.
//
// Usage:
//
//	go run ./internal/etcdbuild [-o bin/etcd]
//
// Exit codes: 0 done, 254 bad arguments, 255 the build or copy failed.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/faultline-io/faultline/etcdbin"
)

func main() {
	out := flag.String("o", "", "also copy the binary to this path")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: etcdbuild [-o path]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(254)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	path, err := etcdbin.Ensure(ctx, os.Stderr)
	if err == nil && *out != "" {
		err = copyFile(path, *out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcdbuild:", err)
		os.Exit(255)
	}
	if *out != "" {
		fmt.Fprintf(os.Stderr, "etcd: %s -> %s\n", path, *out)
		path = *out
	}
	fmt.Println(path)
}

// copyFile copies src to dst (mode 0755) through a temporary file in dst's
// directory and a rename, so that dst is never half written.
func copyFile(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, in); err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}
