package nemesis

import (
	"fmt"
	"math/rand"
	"slices"
	"sort"
)

// A grudge maps a node to the nodes it no longer hears from. Partitions are
// applied at the receiver: node A's grudge against B drops B's packets as
// they arrive at A, so B → A is cut and A → B is not (unless B also holds a
// grudge against A). Nodes without a grudge are absent from the map.
//
// The functions below are pure: the same nodes and the same *rand.Rand state
// give the same grudge. None holds a node's grudge against itself. Node ids
// in each list are sorted.

// Halves cuts the shuffled nodes into a minority of ⌊n/2⌋ and a majority,
// which do not hear each other in either direction.
func Halves(nodes []string, r *rand.Rand) map[string][]string {
	s := shuffledIDs(nodes, r)
	return Complete(s[:len(s)/2], s[len(s)/2:])
}

// IsolateOne cuts one random node off from every other, both ways.
func IsolateOne(nodes []string, r *rand.Rand) map[string][]string {
	if len(nodes) == 0 {
		return map[string][]string{}
	}
	s := append([]string(nil), nodes...)
	sort.Strings(s)
	return IsolateNode(nodes, s[r.Intn(len(s))])
}

// Unheard is the grudge in which every other node stops hearing id while
// id still hears them (one way). Aimed at a two-phase-commit coordinator,
// it cuts it off after its prepares are out: participants vote and their
// votes arrive, but the decisions do not, so they wait in doubt.
func Unheard(nodes []string, id string) map[string][]string {
	g := map[string][]string{}
	if !slices.Contains(nodes, id) {
		return g
	}
	for _, n := range nodes {
		if n != id {
			g[n] = []string{id}
		}
	}
	return g
}

// IsolateNode cuts node id (the leader, for partition-leader) off from every
// other node, both ways. An id that is not among nodes yields no grudge.
func IsolateNode(nodes []string, id string) map[string][]string {
	var rest []string
	found := false
	for _, n := range nodes {
		if n == id {
			found = true
		} else {
			rest = append(rest, n)
		}
	}
	if !found {
		return map[string][]string{}
	}
	return Complete([]string{id}, rest)
}

// MajoritiesRing arranges the shuffled nodes in a ring; each node hears
// itself and the nodes next to it, ⌊n/2⌋+1 in all (a majority), and no
// other. Every node sees a different majority, so no majority agrees on who
// is in it. When the majority is odd (n = 4, 5, 8, 9, …) the window is
// centred and visibility is symmetric; otherwise it reaches one node further
// ahead than behind, so some cuts are one-way. Fewer than three nodes yield
// no grudge (every majority is everyone).
func MajoritiesRing(nodes []string, r *rand.Rand) map[string][]string {
	s := shuffledIDs(nodes, r)
	n := len(s)
	g := map[string][]string{}
	if n < 3 {
		return g
	}
	m := n/2 + 1
	back := (m - 1) / 2
	for i, node := range s {
		sees := map[string]bool{}
		for k := 0; k < m; k++ {
			sees[s[((i-back+k)%n+n)%n]] = true
		}
		for _, other := range s {
			if !sees[other] {
				g[node] = append(g[node], other)
			}
		}
	}
	return sortedGrudge(g)
}

// Bridge picks a random bridge node and splits the others into two halves
// that do not hear each other; the bridge hears and is heard by everyone.
// Fewer than three nodes yield no grudge.
func Bridge(nodes []string, r *rand.Rand) map[string][]string {
	s := shuffledIDs(nodes, r)
	if len(s) < 3 {
		return map[string][]string{}
	}
	rest := s[1:]
	return Complete(rest[:len(rest)/2], rest[len(rest)/2:])
}

// OneWay splits the shuffled nodes into halves, as Halves does, but only the
// first (minority) side holds the grudge: it stops hearing the majority,
// while the majority still hears it.
func OneWay(nodes []string, r *rand.Rand) map[string][]string {
	s := shuffledIDs(nodes, r)
	deaf, loud := s[:len(s)/2], s[len(s)/2:]
	g := map[string][]string{}
	if len(loud) == 0 {
		return g
	}
	for _, a := range deaf {
		g[a] = append([]string(nil), loud...)
	}
	return sortedGrudge(g)
}

// Complete cuts every component off from every other, both ways: each node
// hears only the nodes of its own component.
func Complete(components ...[]string) map[string][]string {
	g := map[string][]string{}
	for i, ci := range components {
		for j, cj := range components {
			if i == j {
				continue
			}
			for _, a := range ci {
				g[a] = append(g[a], cj...)
			}
		}
	}
	return sortedGrudge(g)
}

// PartitionShape resolves a partition shape by name: "halves" (or ""),
// "one", "leader" or "coordinator" (leader names that node), "ring",
// "bridge", "oneway".
func PartitionShape(shape string, nodes []string, leader string, r *rand.Rand) (map[string][]string, error) {
	switch shape {
	case "", "halves", "majority", "minority":
		return Halves(nodes, r), nil
	case "one":
		return IsolateOne(nodes, r), nil
	case "leader", "coordinator":
		if leader == "" {
			return nil, fmt.Errorf("partition shape %s: no %s known", shape, shape)
		}
		if shape == "coordinator" {
			return Unheard(nodes, leader), nil
		}
		return IsolateNode(nodes, leader), nil
	case "ring", "majorities-ring":
		return MajoritiesRing(nodes, r), nil
	case "bridge":
		return Bridge(nodes, r), nil
	case "oneway", "one-way":
		return OneWay(nodes, r), nil
	}
	return nil, fmt.Errorf("unknown partition shape %q (known: halves, one, leader, ring, bridge, oneway)", shape)
}

// shuffledIDs returns a shuffled copy of nodes, sorted first so that the result
// depends on the set of nodes, not on the order the caller listed them in.
func shuffledIDs(nodes []string, r *rand.Rand) []string {
	s := append([]string(nil), nodes...)
	sort.Strings(s)
	r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}

func sortedGrudge(g map[string][]string) map[string][]string {
	for k := range g {
		sort.Strings(g[k])
		if len(g[k]) == 0 {
			delete(g, k)
		}
	}
	return g
}
