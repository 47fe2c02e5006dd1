package nemesis

import (
	"fmt"
	"math/rand"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func ids(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("n%d", i+1)
	}
	return s
}

// hears returns whether a hears b under grudge g.
func hears(g map[string][]string, a, b string) bool {
	for _, x := range g[a] {
		if x == b {
			return false
		}
	}
	return true
}

// visible returns the nodes a hears, itself included, as a sorted key.
func visible(g map[string][]string, nodes []string, a string) []string {
	var v []string
	for _, b := range nodes {
		if hears(g, a, b) {
			v = append(v, b)
		}
	}
	sort.Strings(v)
	return v
}

// checkWellFormed checks what every shape promises: only known nodes, no
// self-grudge, sorted lists without duplicates, no empty entries.
func checkWellFormed(t *testing.T, name string, nodes []string, g map[string][]string) {
	t.Helper()
	known := map[string]bool{}
	for _, n := range nodes {
		known[n] = true
	}
	for a, bs := range g {
		if !known[a] {
			t.Errorf("%s: unknown node %s holds a grudge", name, a)
		}
		if len(bs) == 0 {
			t.Errorf("%s: empty grudge for %s", name, a)
		}
		if !sort.StringsAreSorted(bs) {
			t.Errorf("%s: grudge of %s not sorted: %v", name, a, bs)
		}
		for i, b := range bs {
			if !known[b] || b == a || (i > 0 && bs[i-1] == b) {
				t.Errorf("%s: bad grudge %s -> %v", name, a, bs)
			}
		}
	}
}

func symmetric(g map[string][]string, nodes []string) bool {
	for _, a := range nodes {
		for _, b := range nodes {
			if hears(g, a, b) != hears(g, b, a) {
				return false
			}
		}
	}
	return true
}

var shapes = map[string]func([]string, *rand.Rand) map[string][]string{
	"halves": Halves, "one": IsolateOne, "ring": MajoritiesRing, "bridge": Bridge, "oneway": OneWay,
}

func TestShapesAreDeterministicAndWellFormed(t *testing.T) {
	for name, shape := range shapes {
		for n := 0; n <= 9; n++ {
			nodes := ids(n)
			for seed := int64(0); seed < 20; seed++ {
				g1 := shape(nodes, rand.New(rand.NewSource(seed)))
				g2 := shape(nodes, rand.New(rand.NewSource(seed)))
				if !reflect.DeepEqual(g1, g2) {
					t.Fatalf("%s n=%d seed=%d: not deterministic: %v vs %v", name, n, seed, g1, g2)
				}
				// The caller's order of nodes does not matter.
				rev := append([]string(nil), nodes...)
				sort.Sort(sort.Reverse(sort.StringSlice(rev)))
				if g3 := shape(rev, rand.New(rand.NewSource(seed))); !reflect.DeepEqual(g1, g3) {
					t.Fatalf("%s n=%d seed=%d: depends on input order", name, n, seed)
				}
				checkWellFormed(t, name, nodes, g1)
			}
		}
	}
}

func TestHalves(t *testing.T) {
	for n := 1; n <= 9; n++ {
		nodes := ids(n)
		g := Halves(nodes, rand.New(rand.NewSource(int64(n))))
		if !symmetric(g, nodes) {
			t.Fatalf("n=%d: halves not symmetric: %v", n, g)
		}
		// Two components: sizes ⌊n/2⌋ and ⌈n/2⌉, each a clique.
		sizes := map[string]int{}
		for _, a := range nodes {
			sizes[strings.Join(visible(g, nodes, a), ",")]++
		}
		var got []int
		for comp, k := range sizes {
			if len(strings.Split(comp, ",")) != k {
				t.Fatalf("n=%d: component %s seen by %d nodes", n, comp, k)
			}
			got = append(got, k)
		}
		sort.Ints(got)
		want := []int{n - n/2}
		if n/2 > 0 {
			want = []int{n / 2, n - n/2}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("n=%d: component sizes %v, want %v", n, got, want)
		}
	}
}

func TestIsolateOneAndLeader(t *testing.T) {
	nodes := ids(5)
	g := IsolateNode(nodes, "n3")
	want := map[string][]string{
		"n1": {"n3"}, "n2": {"n3"}, "n4": {"n3"}, "n5": {"n3"},
		"n3": {"n1", "n2", "n4", "n5"},
	}
	if !reflect.DeepEqual(g, want) {
		t.Fatalf("IsolateNode: %v, want %v", g, want)
	}
	if g := IsolateNode(nodes, "n9"); len(g) != 0 {
		t.Fatalf("unknown node isolated: %v", g)
	}
	seen := map[string]bool{}
	for seed := int64(0); seed < 50; seed++ {
		g := IsolateOne(nodes, rand.New(rand.NewSource(seed)))
		var lonely []string
		for a, bs := range g {
			if len(bs) == 4 {
				lonely = append(lonely, a)
			}
		}
		if len(lonely) != 1 || !symmetric(g, nodes) {
			t.Fatalf("seed %d: IsolateOne gave %v", seed, g)
		}
		seen[lonely[0]] = true
	}
	if len(seen) < 3 {
		t.Errorf("IsolateOne picked only %v over 50 seeds", seen)
	}
	if _, err := PartitionShape("leader", nodes, "", rand.New(rand.NewSource(1))); err == nil {
		t.Error("leader shape without a leader did not fail")
	}
}

func TestMajoritiesRing(t *testing.T) {
	for n := 3; n <= 9; n++ {
		nodes := ids(n)
		g := MajoritiesRing(nodes, rand.New(rand.NewSource(int64(n))))
		distinct := map[string]bool{}
		for _, a := range nodes {
			v := visible(g, nodes, a)
			if len(v) != n/2+1 {
				t.Fatalf("n=%d: %s sees %v, not a bare majority", n, a, v)
			}
			distinct[strings.Join(v, ",")] = true
		}
		if len(distinct) != n {
			t.Fatalf("n=%d: %d distinct majorities, want %d", n, len(distinct), n)
		}
		if m := n/2 + 1; m%2 == 1 && !symmetric(g, nodes) {
			t.Fatalf("n=%d: odd majority but asymmetric ring %v", n, g)
		}
	}
	if g := MajoritiesRing(ids(2), rand.New(rand.NewSource(1))); len(g) != 0 {
		t.Fatalf("two nodes: %v", g)
	}
}

func TestBridge(t *testing.T) {
	for n := 3; n <= 9; n++ {
		nodes := ids(n)
		g := Bridge(nodes, rand.New(rand.NewSource(int64(n))))
		if !symmetric(g, nodes) {
			t.Fatalf("n=%d: bridge not symmetric", n)
		}
		var bridges []string
		for _, a := range nodes {
			if len(g[a]) == 0 {
				bridges = append(bridges, a)
			}
		}
		if len(bridges) != 1 {
			t.Fatalf("n=%d: bridges %v in %v", n, bridges, g)
		}
		// Every other node hears the bridge and a side without the other.
		for _, a := range nodes {
			if a == bridges[0] {
				continue
			}
			if !hears(g, a, bridges[0]) || len(g[a]) == 0 {
				t.Fatalf("n=%d: %s: %v", n, a, g[a])
			}
		}
	}
}

func TestOneWay(t *testing.T) {
	for n := 2; n <= 9; n++ {
		nodes := ids(n)
		g := OneWay(nodes, rand.New(rand.NewSource(int64(n))))
		if len(g) != n/2 {
			t.Fatalf("n=%d: %d deaf nodes, want %d", n, len(g), n/2)
		}
		for a, bs := range g {
			for _, b := range bs {
				if !hears(g, b, a) {
					t.Fatalf("n=%d: %s and %s cut both ways", n, a, b)
				}
			}
		}
	}
	// The case the netfault test reproduces: n1 stops hearing n2.
	g := OneWay([]string{"n1", "n2"}, rand.New(rand.NewSource(0)))
	if len(g) != 1 {
		t.Fatalf("two nodes: %v", g)
	}
}

func TestPartitionShapeNames(t *testing.T) {
	for _, s := range []string{"", "halves", "one", "ring", "bridge", "oneway"} {
		if _, err := PartitionShape(s, ids(5), "", rand.New(rand.NewSource(1))); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	if _, err := PartitionShape("zigzag", ids(5), "", rand.New(rand.NewSource(1))); err == nil {
		t.Error("unknown shape accepted")
	}
}

// TestUnheardIsOneWay: the coordinator shape cuts what the others hear from
// the coordinator, never what the coordinator hears.
func TestUnheardIsOneWay(t *testing.T) {
	nodes := []string{"n1", "n2", "n3", "n4"}
	g, err := PartitionShape("coordinator", nodes, "n1", rand.New(rand.NewSource(1)))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"n2": {"n1"}, "n3": {"n1"}, "n4": {"n1"}}
	if !reflect.DeepEqual(g, want) {
		t.Errorf("grudge %v, want %v", g, want)
	}
	if len(Unheard(nodes, "n9")) != 0 {
		t.Error("a node not in the cluster made a grudge")
	}
}
