package etcd

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/history"
	"github.com/faultline-io/faultline/targets"
)

func TestConfigure(t *testing.T) {
	base, err := targets.Get("etcd")
	if err != nil {
		t.Fatal(err)
	}
	got, err := targets.Configured(base, []string{"read-consistency=serializable", "request-timeout=300ms",
		"election-timeout=2s", "heartbeat-interval=200ms"})
	if err != nil {
		t.Fatal(err)
	}
	o := got.(Target).Options()
	if o.ReadConsistency != "serializable" || o.RequestTimeout != 300*time.Millisecond ||
		o.ElectionTimeout != 2*time.Second || o.HeartbeatInterval != 200*time.Millisecond {
		t.Errorf("options %+v", o)
	}
	if base.(Target).Options().ReadConsistency != "linearizable" {
		t.Error("Configure changed the registered target")
	}
	for _, tc := range []struct{ opt, want string }{
		{"read-consistency=stale", "read-consistency=stale"},
		{"bogus=1", `"bogus"`},
		{"dial-timeout=soon", "dial-timeout=soon"},
		{"election-timeout=300ms", "at least 5 times"},
		{"novalue", "not KEY=VALUE"},
	} {
		if _, err := targets.Configured(base, []string{tc.opt}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.opt, err, tc.want)
		}
	}
	raft := fakeTarget{}
	if _, err := targets.Configured(raft, []string{"a=b"}); err == nil || !strings.Contains(err.Error(), "takes no options") {
		t.Errorf("a target without options: %v", err)
	}
}

type fakeTarget struct{ targets.Target }

func (fakeTarget) Name() string { return "fake" }

func TestNodeCommandAndServerArgs(t *testing.T) {
	peers := []cluster.Peer{
		{ID: "n1", Addr: "10.0.0.2:7000", PeerAddr: "10.0.0.2:7001"},
		{ID: "n2", Addr: "10.0.0.3:7000", PeerAddr: "10.0.0.3:7001"},
	}
	args := Target{opts: defaultOptions()}.NodeCommand(peers[1], peers, "/data/n2", nil, 1)
	want := []string{"node", "etcd", "--id", "n2", "--listen", "10.0.0.3:7000", "--peer-listen", "10.0.0.3:7001",
		"--peers", "n1=10.0.0.2:7001,n2=10.0.0.3:7001", "--data", "/data/n2", "--election-timeout", "1000", "--heartbeat-interval", "100"}
	if !slices.Equal(args, want) {
		t.Errorf("NodeCommand = %q\nwant %q", args, want)
	}
	ps, err := cluster.ParsePeers("n1=10.0.0.2:7001,n2=10.0.0.3:7001")
	if err != nil {
		t.Fatal(err)
	}
	sa := strings.Join(ServerArgs("n2", "10.0.0.3:7000", "10.0.0.3:7001", ps, "/d", 1000, 100), " ")
	for _, w := range []string{"--initial-cluster n1=http://10.0.0.2:7001,n2=http://10.0.0.3:7001",
		"--listen-client-urls http://10.0.0.3:7000", "--advertise-client-urls http://10.0.0.3:7000",
		"--listen-peer-urls http://10.0.0.3:7001", "--data-dir /d", "--initial-cluster-state new"} {
		if !strings.Contains(sa, w) {
			t.Errorf("server args %q lack %q", sa, w)
		}
	}
}

// TestClassify: the errors etcd answers before proposing are definite,
// every other error of a write may have taken effect.
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want history.Type
	}{
		{rpctypes.ErrGRPCNoSpace, history.Fail},
		{rpctypes.ErrGRPCRequestTooManyRequests, history.Fail},
		{rpctypes.ErrGRPCRequestTooLarge, history.Fail},
		{rpctypes.ErrNoSpace, history.Fail},
		{rpctypes.ErrEmptyKey, history.Fail},
		{rpctypes.ErrGRPCTimeout, history.Info},
		{rpctypes.ErrGRPCLeaderChanged, history.Info},
		{rpctypes.ErrGRPCNoLeader, history.Info},
		{status.Error(codes.DeadlineExceeded, "context deadline exceeded"), history.Info},
		{status.Error(codes.Unavailable, "connection reset"), history.Info},
		{errors.New("context deadline exceeded"), history.Info},
	} {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("classify(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

func TestRefuseNemesis(t *testing.T) {
	for _, n := range []string{"clock-jump", "clock-strobe", "disk-eio", "msg-delay"} {
		if err := (Target{}).RefuseNemesis(n); err == nil || !strings.Contains(err.Error(), "admin endpoint") {
			t.Errorf("%s: %v, want a refusal naming the reason", n, err)
		}
	}
	for _, n := range []string{"kill", "pause", "partition", "partition-leader", "loss"} {
		if err := (Target{}).RefuseNemesis(n); err != nil {
			t.Errorf("%s refused: %v", n, err)
		}
	}
}
