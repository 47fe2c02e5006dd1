package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline-io/faultline/cluster"
)

func TestRootfsTarExtra(t *testing.T) {
	dir := t.TempDir()
	bin, extra := filepath.Join(dir, "faultline"), filepath.Join(dir, "etcd-v9")
	if err := os.WriteFile(bin, []byte("node binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(extra, []byte("etcd binary"), 0o644); err != nil {
		t.Fatal(err)
	}
	rootfs, err := rootfsTar(bin, map[string]string{"etcd": extra})
	if err != nil {
		t.Fatal(err)
	}
	type entry struct {
		mode int64
		data string
	}
	got := map[string]entry{}
	var names []string
	tr := tar.NewReader(bytes.NewReader(rootfs))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		got[h.Name] = entry{h.Mode, string(data)}
	}
	want := map[string]entry{
		"data/":     {0o755, ""},
		"tmp/":      {0o1777, ""},
		"faultline": {0o755, "node binary"},
		"etcd":      {0o755, "etcd binary"}, // executable whatever the source's mode
	}
	if len(got) != len(want) {
		t.Errorf("entries %v, want %d", names, len(want))
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g != w {
			t.Errorf("%s: %+v (present %v), want %+v", name, g, ok, w)
		}
	}

	if _, err := rootfsTar(bin, map[string]string{"etcd": extra + "-missing"}); err == nil || !strings.Contains(err.Error(), "/etcd") {
		t.Errorf("missing extra file: %v", err)
	}
}

func TestImageTagExtra(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bin, a, b := write("bin", "node"), write("a", "etcd 1"), write("b", "etcd 2")
	tag := func(extra map[string]string) string {
		t.Helper()
		tag, err := imageTag(bin, extra)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(tag, ImageRepo+":") || len(tag) != len(ImageRepo)+1+12 {
			t.Errorf("tag %q", tag)
		}
		return tag
	}
	plain, err := ImageTag(bin)
	if err != nil {
		t.Fatal(err)
	}
	if tag(nil) != plain || tag(map[string]string{}) != plain {
		t.Error("no extra file must give ImageTag's tag, the image EnsureImage imports")
	}
	tags := map[string]string{
		"binary alone":     plain,
		"etcd=a":           tag(map[string]string{"etcd": a}),
		"etcd=b":           tag(map[string]string{"etcd": b}),
		"etcd2=a":          tag(map[string]string{"etcd2": a}),
		"etcd=a, other=b":  tag(map[string]string{"etcd": a, "other": b}),
		"etcd=b, other=a":  tag(map[string]string{"etcd": b, "other": a}),
		"etcd=a, other=a2": tag(map[string]string{"etcd": a, "other": write("a2", "etcd 1")}),
	}
	seen := map[string]string{}
	for what, tg := range tags {
		if other, dup := seen[tg]; dup {
			t.Errorf("%s and %s share the tag %s", what, other, tg)
		}
		seen[tg] = what
	}
	if tag(map[string]string{"etcd": a}) != tags["etcd=a"] {
		t.Error("the tag is not deterministic")
	}
	write("a", "etcd 1 rebuilt")
	if tag(map[string]string{"etcd": a}) == tags["etcd=a"] {
		t.Error("a changed extra file kept its tag")
	}
	if _, err := imageTag(bin, map[string]string{"etcd": a + "-missing"}); err == nil || !strings.Contains(err.Error(), "etcd") {
		t.Errorf("missing extra file: %v", err)
	}
}

func TestCheckExtra(t *testing.T) {
	if echoBinary == "" {
		t.Fatal("echo node did not build")
	}
	if err := checkExtra(map[string]string{"etcd": echoBinary, "other": echoBinary}); err != nil {
		t.Errorf("static extra file rejected: %v", err)
	}
	if err := checkExtra(nil); err != nil {
		t.Errorf("no extra file: %v", err)
	}
	for _, dyn := range []string{"/bin/sleep", "/usr/bin/sleep"} {
		if _, err := os.Stat(dyn); err != nil {
			continue
		}
		err := checkExtra(map[string]string{"etcd": dyn})
		if err == nil || !strings.Contains(err.Error(), "image file etcd") || !strings.Contains(err.Error(), "dynamically linked") {
			t.Errorf("dynamic %s: %v", dyn, err)
		}
		break
	}
	if err := checkExtra(map[string]string{"etcd": "/etc/hostname"}); err == nil || !strings.Contains(err.Error(), "not an ELF") {
		t.Errorf("a text file passed as a static binary: %v", err)
	}
	for _, name := range []string{"", ".", "..", "bin/etcd", "/etcd", "faultline", "data", "tmp"} {
		if err := checkExtra(map[string]string{name: echoBinary}); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
}

// TestImageImportExtra imports an image with a second copy of the echo
// node at /echo2 and checks it is a separate image, labelled, about one
// binary larger.
func TestImageImportExtra(t *testing.T) {
	needDocker(t)
	cli, err := NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	plain, _, err := EnsureImage(ctx, cli, echoBinary)
	if err != nil {
		t.Fatal(err)
	}
	extra := map[string]string{"echo2": echoBinary}
	tag, _, err := EnsureImageWith(ctx, cli, echoBinary, extra)
	if err != nil {
		t.Fatal(err)
	}
	if tag == plain {
		t.Fatalf("the image with /echo2 has the tag of the plain image %s", tag)
	}
	if again, built, err := EnsureImageWith(ctx, cli, echoBinary, extra); err != nil || built || again != tag {
		t.Errorf("second EnsureImageWith: %s built=%v %v", again, built, err)
	}
	pi, err := cli.ImageInspect(ctx, plain)
	if err != nil {
		t.Fatal(err)
	}
	ei, err := cli.ImageInspect(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	if ei.Config.Labels[cluster.Label] != "image" {
		t.Errorf("labels %v", ei.Config.Labels)
	}
	if ep := ei.Config.Entrypoint; len(ep) != 1 || ep[0] != "/faultline" {
		t.Errorf("entrypoint %v", ep)
	}
	fi, err := os.Stat(echoBinary)
	if err != nil {
		t.Fatal(err)
	}
	grew := ei.Size - pi.Size
	t.Logf("%s: %d bytes, %s: %d bytes (+%d; echo2 is %d)", plain, pi.Size, tag, ei.Size, grew, fi.Size())
	if grew < fi.Size() || grew > fi.Size()+64<<10 {
		t.Errorf("the image grew by %d bytes for a %d-byte file", grew, fi.Size())
	}
}
