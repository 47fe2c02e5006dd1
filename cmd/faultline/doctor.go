package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/vishvananda/netns"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/docker"
	"github.com/faultline-io/faultline/harness"
	"github.com/faultline-io/faultline/nemesis"
	"github.com/faultline-io/faultline/nemesis/netfault"
	"github.com/faultline-io/faultline/targets"
)

func newDoctorCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Probe this machine: Docker, namespaces, nftables, netem, NFQUEUE, freezer; which faults each runtime can apply",
		Long: `doctor probes what faultline can do here and prints, for each runtime
(local, netns, docker), which nemeses are available and why the others are
not. Network facilities are tried for real in a throwaway network namespace.
It exits 0 whenever it could run its probes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDoctor(cmd.Context(), cmd.OutOrStdout())
		},
	}
}

func runDoctor(ctx context.Context, w io.Writer) error {
	caps := netfault.Probe()
	dockerVersion, dockerErr := docker.Available(ctx)

	fmt.Fprintln(w, "host")
	line := func(ok bool, name, detail string) {
		mark := "ok     "
		switch {
		case strings.HasPrefix(detail, "not probed"):
			mark = "unknown"
		case !ok:
			mark = "missing"
		}
		fmt.Fprintf(w, "  %s  %-20s %s\n", mark, name, detail)
	}
	if dockerErr != nil {
		line(false, "docker", oneLine(dockerErr.Error()))
	} else {
		line(true, "docker", dockerVersion)
	}
	for _, c := range caps.All() {
		line(c.OK, c.Name, c.Detail)
	}

	fmt.Fprintln(w, "\nhow faults are applied here")
	for _, note := range doctorNotes(caps) {
		fmt.Fprintf(w, "  - %s\n", note)
	}

	fmt.Fprintln(w, "\nruntimes")
	names := nemesis.Names()
	for _, rt := range []string{"local", "netns", "docker"} {
		status := "usable"
		probeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, _, err := harness.ResolveRuntime(probeCtx, rt)
		cancel()
		if err != nil {
			status = "not usable: " + oneLine(err.Error())
		}
		fmt.Fprintf(w, "  %s (%s)\n", rt, status)
		fake := newDoctorCluster(rt)
		for _, name := range names {
			n, err := nemesis.New(name)
			if err != nil {
				fmt.Fprintf(w, "    no   %-18s %v\n", name, err)
				continue
			}
			if err := n.Available(fake); err != nil {
				fmt.Fprintf(w, "    no   %-18s %s\n", name, oneLine(err.Error()))
				continue
			}
			fmt.Fprintf(w, "    yes  %s\n", name)
		}
	}

	// What each target takes, whatever the runtime (see 'faultline targets').
	fmt.Fprintln(w, "\ntargets (nemeses each takes; the runtime must offer them too)")
	for _, t := range targets.All() {
		fmt.Fprintf(w, "  %-6s %s\n", t.Name(), supportedNemeses(t))
	}
	return nil
}

// doctorNotes explains, from the probe, which mechanism each network fault
// uses on this machine.
func doctorNotes(c netfault.Capabilities) []string {
	var notes []string
	if !c.Namespaces.OK {
		notes = append(notes, "network faults could not be probed ("+c.Namespaces.Detail+"); run doctor as root to see how they would be applied")
	} else if c.NftRandom.OK {
		notes = append(notes, "partitions: nftables drop at the receiver (prerouting, ip saddr @blocked) in each node's namespace")
	} else if c.Nftables.OK {
		notes = append(notes, "partitions: nftables drop at the receiver; nftables numgen/dup unusable: "+c.NftRandom.Detail)
	} else {
		notes = append(notes, "partitions, loss, duplicate: unavailable, nftables is unusable: "+c.Nftables.Detail)
	}
	switch {
	case !c.Namespaces.OK:
	case c.Netem.OK:
		notes = append(notes, "netem is present: delay uses netem on each node's eth0; loss and duplicate still use nftables numgen")
	default:
		mech := "delay uses NFQUEUE (xt target with the bypass flag) with verdicts given late by the harness; a dead harness fails open"
		if _, err := c.DelayMechanism(); err != nil {
			mech = "delay is unavailable: " + err.Error()
		}
		notes = append(notes, "netem is missing on this kernel ("+c.Netem.Detail+"): loss and duplicate use nftables numgen "+
			"(random mod 10000, converted to network byte order before the compare); "+mech)
	}
	switch {
	case !c.Namespaces.OK:
	case c.TBF.OK:
		notes = append(notes, fmt.Sprintf("bandwidth: tbf root qdisc (handle %x:) on each node's eth0", netfault.QdiscMajor))
	default:
		notes = append(notes, "bandwidth: unavailable: "+c.TBF.Detail)
	}
	pause := "pause: docker pause (cgroup freezer) on docker; SIGSTOP on local and netns"
	if !c.Freezer.OK {
		pause += "; no freezer found: " + c.Freezer.Detail
	}
	notes = append(notes, pause)
	tns := "clocks: no kernel gives one process its own wall clock"
	if c.TimeNS.OK {
		tns += " (time namespaces exist but offset only monotonic and boot time)"
	}
	notes = append(notes, tns+"; clock faults go through the bundled nodes' clock seam")
	return notes
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// doctorCluster stands for a cluster of a runtime, so that each nemesis's
// own Available decides: local nodes have no namespace (ErrUnsupported);
// netns and docker nodes get a handle to the host's namespace, which
// Available only opens and closes.
type doctorCluster struct {
	nodes []cluster.Node
}

type doctorNode struct {
	id, addr string
	netns    bool
}

func newDoctorCluster(runtime string) *doctorCluster {
	c := &doctorCluster{}
	for i := 1; i <= 3; i++ {
		n := &doctorNode{id: fmt.Sprintf("n%d", i), netns: runtime != "local"}
		if n.netns {
			n.addr = fmt.Sprintf("10.0.0.%d:7000", i+1)
		} else {
			n.addr = fmt.Sprintf("127.0.0.1:%d", 7000+i)
		}
		c.nodes = append(c.nodes, n)
	}
	return c
}

func (c *doctorCluster) Nodes() []cluster.Node              { return c.nodes }
func (c *doctorCluster) Teardown(ctx context.Context) error { return nil }

func (n *doctorNode) ID() string                       { return n.id }
func (n *doctorNode) Addr() string                     { return n.addr }
func (n *doctorNode) Kill(ctx context.Context) error   { return errDoctor }
func (n *doctorNode) Start(ctx context.Context) error  { return errDoctor }
func (n *doctorNode) Pause(ctx context.Context) error  { return errDoctor }
func (n *doctorNode) Resume(ctx context.Context) error { return errDoctor }
func (n *doctorNode) NetNS() (netns.NsHandle, error) {
	if !n.netns {
		return netns.None(), cluster.ErrUnsupported
	}
	if os.Geteuid() != 0 {
		return netns.None(), errors.New("needs root")
	}
	return netns.Get()
}

var errDoctor = errors.New("doctor does not run nodes")
