package peer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/faultline-io/faultline/cluster"
)

// statusHTTP asks nodes for health and stats; short timeouts, no proxies.
var statusHTTP = &http.Client{
	Timeout: 2 * time.Second,
	Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 500 * time.Millisecond}).DialContext,
		MaxIdleConnsPerHost: 1,
	},
}

// GetJSON GETs path from addr and decodes a 200 answer into out (nil:
// discard it).
func GetJSON(ctx context.Context, addr, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := statusHTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	if out == nil {
		_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
		return err
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out)
}

// EachNode calls f for every node at once and returns nil, or an error
// naming every node f failed for.
func EachNode(nodes []cluster.Node, f func(n cluster.Node) error) error {
	var mu sync.Mutex
	var wg sync.WaitGroup
	var failed []string
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(n); err != nil {
				mu.Lock()
				failed = append(failed, n.ID()+": "+err.Error())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(failed) == 0 {
		return nil
	}
	sort.Strings(failed)
	return fmt.Errorf("%d of %d nodes: %s", len(failed), len(nodes), strings.Join(failed, "; "))
}

// AllHealthy returns nil when every node answers path with 200.
func AllHealthy(ctx context.Context, nodes []cluster.Node, path string) error {
	if err := EachNode(nodes, func(n cluster.Node) error { return GetJSON(ctx, n.Addr(), path, nil) }); err != nil {
		return fmt.Errorf("not serving: %w", err)
	}
	return nil
}
