package peer

import (
	"net"
	"net/http"
	"time"
)

// ClientTransport is the HTTP transport of one worker's client of a
// cluster of n nodes: no proxy, a 500 ms dial timeout (a node that is down
// or cut off fails fast, so the request was certainly not sent), at most 4
// connections and 2 idle ones per node, no compression. Clients are not
// shared between workers, so neither are their transports.
func ClientTransport(n int) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 500 * time.Millisecond, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2 * n,
		MaxIdleConnsPerHost: 2,
		MaxConnsPerHost:     4,
		IdleConnTimeout:     60 * time.Second,
		DisableCompression:  true,
	}
}
