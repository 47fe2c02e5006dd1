package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/faultline-io/faultline/cluster"
)

// ImageRepo is the repository of the node image; its tag is a hash of the
// binary (ImageTag), so a rebuilt binary never runs in an old image.
const ImageRepo = "faultline-node"

// buildHint is how to get a binary the runtime can use.
const buildHint = "build a static one with `CGO_ENABLED=0 go build -o faultline ./cmd/faultline` (or `make build`)"

// CheckStatic returns nil if path is an ELF executable that needs no dynamic
// loader and no shared library, so that it runs alone in a FROM scratch
// image. A static PIE (a dynamic section but no interpreter and no
// DT_NEEDED) is accepted.
func CheckStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("node binary %s is not an ELF executable (%v); %s", path, err, buildHint)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			interp, _ := io.ReadAll(io.LimitReader(p.Open(), 256))
			return fmt.Errorf("node binary %s is dynamically linked (interpreter %s) and cannot run in a FROM scratch image; %s",
				path, strings.TrimRight(string(interp), "\x00"), buildHint)
		}
	}
	if libs, err := f.ImportedLibraries(); err == nil && len(libs) > 0 {
		return fmt.Errorf("node binary %s needs shared libraries %v and cannot run in a FROM scratch image; %s", path, libs, buildHint)
	}
	return nil
}

// ImageTag returns faultline-node:<first 12 hex digits of the binary's
// SHA-256>.
func ImageTag(binary string) (string, error) {
	f, err := os.Open(binary)
	if err != nil {
		return "", fmt.Errorf("open node binary: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash node binary %s: %w", binary, err)
	}
	return ImageRepo + ":" + hex.EncodeToString(h.Sum(nil))[:12], nil
}

// EnsureImage returns the tag of the node image for binary, importing it
// first when Docker does not have it. The image is a one-file root
// filesystem (the binary at /faultline, plus empty /data and /tmp) imported
// with ImageImport and ENTRYPOINT ["/faultline"]: no Dockerfile, no builder
// (BuildKit or classic), no registry. The binary must be static.
func EnsureImage(ctx context.Context, cli *client.Client, binary string) (tag string, built bool, err error) {
	if err := CheckStatic(binary); err != nil {
		return "", false, err
	}
	tag, err = ImageTag(binary)
	if err != nil {
		return "", false, err
	}
	if _, err := cli.ImageInspect(ctx, tag); err == nil {
		return tag, false, nil
	}
	rootfs, err := rootfsTar(binary)
	if err != nil {
		return "", false, err
	}
	body, err := cli.ImageImport(ctx, image.ImportSource{Source: bytes.NewReader(rootfs), SourceName: "-"}, tag,
		image.ImportOptions{
			Message: "faultline node image",
			Changes: []string{
				`ENTRYPOINT ["/faultline"]`,
				"WORKDIR /data",
				"LABEL " + cluster.Label + "=image",
			},
		})
	if err != nil {
		return "", false, fmt.Errorf("import image %s: %w", tag, err)
	}
	defer body.Close()
	if err := streamError(body); err != nil {
		return "", false, fmt.Errorf("import image %s: %w", tag, err)
	}
	if _, err := cli.ImageInspect(ctx, tag); err != nil {
		return "", false, fmt.Errorf("image %s missing after import: %w", tag, err)
	}
	return tag, true, nil
}

// rootfsTar returns a tar of the image's root filesystem.
func rootfsTar(binary string) ([]byte, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return nil, fmt.Errorf("read node binary: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	for _, d := range []struct {
		name string
		mode int64
	}{{"data/", 0o755}, {"tmp/", 0o1777}} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d.name, Mode: d.mode, ModTime: now}); err != nil {
			return nil, err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "faultline", Mode: 0o755, Size: int64(len(bin)), ModTime: now}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func imageListOptions() image.ListOptions {
	return image.ListOptions{Filters: filters.NewArgs(filters.Arg("reference", ImageRepo))}
}

func imageRemoveOptions() image.RemoveOptions { return image.RemoveOptions{PruneChildren: true} }

// streamError reads a daemon progress stream (one JSON object after
// another) to its end and returns the first error it reports.
func streamError(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var msg struct {
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read daemon response: %w", err)
		}
		if msg.ErrorDetail != nil && msg.ErrorDetail.Message != "" {
			return errors.New(msg.ErrorDetail.Message)
		}
		if msg.Error != "" {
			return errors.New(msg.Error)
		}
	}
}
