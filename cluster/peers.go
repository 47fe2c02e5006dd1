package cluster

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// ParsePeers parses "n1=HOST:PORT,n2=HOST:PORT".
func ParsePeers(s string) ([]Peer, error) {
	var peers []Peer
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, addr, ok := strings.Cut(part, "=")
		if !ok || id == "" || addr == "" {
			return nil, fmt.Errorf("--peers entry %q is not id=HOST:PORT", part)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("--peers entry %q: %v", part, err)
		}
		if seen[id] {
			return nil, fmt.Errorf("--peers names %q twice", id)
		}
		seen[id] = true
		peers = append(peers, Peer{ID: id, Addr: addr})
	}
	if len(peers) == 0 {
		return nil, errors.New("--peers is empty")
	}
	return peers, nil
}
