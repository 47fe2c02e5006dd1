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
	"maps"
	"os"
	"slices"
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
	return checkStatic(path, "node binary", buildHint)
}

// checkStatic is CheckStatic for a file that the errors call what, with
// hint telling how to get a static one.
func checkStatic(path, what, hint string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s %s is not an ELF executable (%v); %s", what, path, err, hint)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			interp, _ := io.ReadAll(io.LimitReader(p.Open(), 256))
			return fmt.Errorf("%s %s is dynamically linked (interpreter %s) and cannot run in a FROM scratch image; %s",
				what, path, strings.TrimRight(string(interp), "\x00"), hint)
		}
	}
	if libs, err := f.ImportedLibraries(); err == nil && len(libs) > 0 {
		return fmt.Errorf("%s %s needs shared libraries %v and cannot run in a FROM scratch image; %s", what, path, libs, hint)
	}
	return nil
}

// ImageTag returns faultline-node:<first 12 hex digits of the binary's
// SHA-256>: the tag of the image that holds binary alone.
func ImageTag(binary string) (string, error) {
	return imageTag(binary, nil)
}

// imageTag returns the tag of the image holding binary and the extra
// files. With no extra file it is ImageTag; otherwise the hash is the
// SHA-256 of the binary's SHA-256 followed by, for each extra file in name
// order, its name, a NUL and its SHA-256: a change to any file, or to a
// name, gives another tag.
func imageTag(binary string, extra map[string]string) (string, error) {
	sum, err := fileSHA256(binary, "node binary")
	if err != nil {
		return "", err
	}
	if len(extra) > 0 {
		h := sha256.New()
		h.Write(sum)
		for _, name := range slices.Sorted(maps.Keys(extra)) {
			s, err := fileSHA256(extra[name], "image file "+name)
			if err != nil {
				return "", err
			}
			h.Write([]byte(name + "\x00"))
			h.Write(s)
		}
		sum = h.Sum(nil)
	}
	return ImageRepo + ":" + hex.EncodeToString(sum)[:12], nil
}

// fileSHA256 returns the SHA-256 of the file at path, which errors call
// what.
func fileSHA256(path, what string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", what, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("hash %s %s: %w", what, path, err)
	}
	return h.Sum(nil), nil
}

// EnsureImage returns the tag of the node image for binary, importing it
// first when Docker does not have it. The image is a one-file root
// filesystem (the binary at /faultline, plus empty /data and /tmp) imported
// with ImageImport and ENTRYPOINT ["/faultline"]: no Dockerfile, no builder
// (BuildKit or classic), no registry. The binary must be static.
func EnsureImage(ctx context.Context, cli *client.Client, binary string) (tag string, built bool, err error) {
	return EnsureImageWith(ctx, cli, binary, nil)
}

// EnsureImageWith is EnsureImage for an image that also holds extra static
// executables at its root: extra maps a file name in / to the path of the
// file on this machine, e.g. {"etcd": "/root/.cache/faultline/etcd-v3.6.16"}
// gives /etcd. Each must be a static ELF executable (CheckStatic) and a
// plain name, neither "faultline" nor "data" nor "tmp". The tag hashes every
// file (imageTag); with no extra file it is ImageTag(binary), the image of
// EnsureImage.
func EnsureImageWith(ctx context.Context, cli *client.Client, binary string, extra map[string]string) (tag string, built bool, err error) {
	if err := CheckStatic(binary); err != nil {
		return "", false, err
	}
	if err := checkExtra(extra); err != nil {
		return "", false, err
	}
	tag, err = imageTag(binary, extra)
	if err != nil {
		return "", false, err
	}
	if _, err := cli.ImageInspect(ctx, tag); err == nil {
		return tag, false, nil
	}
	rootfs, err := rootfsTar(binary, extra)
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

// checkExtra checks the extra files of EnsureImageWith: plain names that
// clash with nothing else in the image, static executables.
func checkExtra(extra map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(extra)) {
		path := extra[name]
		switch {
		case name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00"):
			return fmt.Errorf("image file %q (%s): the name must be a plain file name", name, path)
		case name == "faultline" || name == "data" || name == "tmp":
			return fmt.Errorf("image file %q (%s): /%s is already in the image", name, path, name)
		}
		if err := checkStatic(path, "image file "+name+":", "build it with CGO_ENABLED=0"); err != nil {
			return err
		}
	}
	return nil
}

// rootfsTar returns a tar of the image's root filesystem: binary as
// /faultline, each extra file at /<name>, empty /data and /tmp.
func rootfsTar(binary string, extra map[string]string) ([]byte, error) {
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
	files := [][2]string{{"faultline", binary}}
	for _, name := range slices.Sorted(maps.Keys(extra)) {
		files = append(files, [2]string{name, extra[name]})
	}
	for _, f := range files {
		data, err := os.ReadFile(f[1])
		if err != nil {
			return nil, fmt.Errorf("read image file /%s: %w", f[0], err)
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f[0], Mode: 0o755, Size: int64(len(data)), ModTime: now}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
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
