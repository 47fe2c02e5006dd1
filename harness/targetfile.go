package harness

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/docker"
	"github.com/faultline-io/faultline/store"
	"github.com/faultline-io/faultline/targets"
	"github.com/faultline-io/faultline/targets/byo"
)

// targetOf returns c's target: the one c.TargetFile describes (package
// targets/byo), else the registered target named c.Target. For a target
// file it fills c's derived fields: Target (the file's name), Port (its
// port), TargetDir (the file's directory, unless recorded) and
// TargetSHA256 (unless recorded, and then the content must match it: a
// replay's copy that was edited, or a file changed between validation and
// run, is refused). Errors are *FieldError.
func targetOf(c *store.Config) (targets.Target, error) {
	if c.TargetFile == "" {
		t, err := targets.Get(c.Target)
		if err != nil {
			return nil, &FieldError{"target", c.Target, err.Error()}
		}
		return t, nil
	}
	bad := func(msg string) error { return &FieldError{"target-file", c.TargetFile, msg} }
	b, err := os.ReadFile(c.TargetFile)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, bad(err.Error())
	}
	sum := sha256.Sum256(b)
	hash := hex.EncodeToString(sum[:])
	if c.TargetSHA256 != "" && c.TargetSHA256 != hash {
		return nil, bad(fmt.Sprintf("its content (sha256 %.12s) is not the one recorded (%.12s): the file changed", hash, c.TargetSHA256))
	}
	if c.TargetDir == "" {
		abs, err := filepath.Abs(c.TargetFile)
		if err != nil {
			return nil, bad(err.Error())
		}
		c.TargetDir = filepath.Dir(abs)
	}
	t, err := byo.Parse(b, c.TargetDir)
	if err != nil {
		return nil, bad(err.Error())
	}
	if c.Binary != "" {
		return nil, &FieldError{"node-binary", c.Binary, "a target file names its own program (command or image)"}
	}
	c.Target, c.Port, c.TargetSHA256 = t.Name(), t.Port(), hash
	switch bin, image := t.NodeProgram(); {
	case image != "" && c.Runtime == "auto":
		c.Runtime = "docker"
	case image != "" && c.Runtime != "docker":
		return nil, &FieldError{"runtime", c.Runtime, fmt.Sprintf("target %s runs the Docker image %s, which only the docker runtime runs "+
			"(the local and netns runtimes run a program: give command instead of image)", t.Name(), image)}
	case bin != "" && c.Runtime == "docker":
		if err := docker.CheckStatic(bin); err != nil {
			return nil, bad(staticHint(bin, err))
		}
	}
	return t, nil
}

// staticHint explains why the docker runtime cannot run program bin.
func staticHint(bin string, err error) string {
	// CheckStatic's advice on building faultline is beside the point here.
	why, _, _ := strings.Cut(err.Error(), "; build a static one")
	return fmt.Sprintf("the docker runtime runs %s alone in a FROM scratch image, so it must be a static executable "+
		"(Go: CGO_ENABLED=0 go build); else use --runtime netns or local, or give an image (%s)", bin, why)
}

// keepTargetFile copies cfg's target file, if any, into the run directory
// dir as store.TargetFileCopy, which a replay runs.
func keepTargetFile(cfg store.Config, dir string) error {
	if cfg.TargetFile == "" {
		return nil
	}
	b, err := os.ReadFile(cfg.TargetFile)
	if err != nil {
		return err
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != cfg.TargetSHA256 {
		return fmt.Errorf("target file %s changed since it was validated", cfg.TargetFile)
	}
	return os.WriteFile(filepath.Join(dir, store.TargetFileCopy), b, 0o644)
}

// useNodeProgram points spec at the program of a target whose nodes run
// one of their own (targets.NodeProgrammer) and checks that runtime rtName
// can run it: an image only on docker, and present there; a program
// anywhere, static on docker. Its errors wrap ErrUnavailable.
func useNodeProgram(ctx context.Context, t targets.Target, spec *cluster.Spec, rtName string) error {
	np, ok := t.(targets.NodeProgrammer)
	if !ok {
		return nil
	}
	bin, image := np.NodeProgram()
	switch {
	case image != "" && rtName != "docker":
		return fmt.Errorf("%w: target %s runs the Docker image %s, which the %s runtime cannot run (use --runtime docker)",
			ErrUnavailable, t.Name(), image, rtName)
	case image != "":
		if err := docker.CheckLocalImage(ctx, image); err != nil {
			return fmt.Errorf("%w: target %s: %v", ErrUnavailable, t.Name(), err)
		}
		spec.Image = image
	default:
		if rtName == "docker" {
			if err := docker.CheckStatic(bin); err != nil {
				return fmt.Errorf("%w: target %s: %s", ErrUnavailable, t.Name(), staticHint(bin, err))
			}
		}
		spec.Binary = bin
	}
	return nil
}

// refuseNemesis returns why target t cannot take nemesis name
// (targets.NemesisRefuser), or nil.
func refuseNemesis(t targets.Target, name string) error {
	if r, ok := t.(targets.NemesisRefuser); ok {
		return r.RefuseNemesis(name)
	}
	return nil
}

// AnsweredErrors returns the errors with which cfg's target answers
// operations (targets.Target.AnsweredErrors), for availability: a target
// file's are its protocol's, known without the file; a target that is not
// registered (an imported history's) answers with none.
func AnsweredErrors(cfg store.Config) []string {
	if cfg.TargetFile != "" {
		return byo.AnsweredErrors()
	}
	if t, err := targets.Get(cfg.Target); err == nil {
		return t.AnsweredErrors()
	}
	return nil
}
