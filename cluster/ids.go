package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
)

// RandomHex returns 2n random hex digits, for per-run ids in resource names.
func RandomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// OverlapsAny reports whether subnet n overlaps any of others.
func OverlapsAny(n *net.IPNet, others []*net.IPNet) bool {
	for _, o := range others {
		if o.Contains(n.IP) || n.Contains(o.IP) {
			return true
		}
	}
	return false
}

// HostIP returns host number h of an IPv4 /24 subnet (subnet.0 + h).
func HostIP(subnet net.IP, h int) net.IP {
	ip := make(net.IP, 4)
	copy(ip, subnet.To4())
	ip[3] = byte(h)
	return ip
}
