package peer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
)

// PostJSON POSTs in as JSON to url with hc and decodes the answer into out,
// whatever its status. sent reports whether the whole request was written
// to a connection, after which the node may have acted on it: a client
// turns an error with sent false into a definite failure, and one with
// sent true into an uncertain outcome. status is the HTTP status line of
// an answer ("" when there was none).
func PostJSON(ctx context.Context, hc *http.Client, url string, in, out any) (sent bool, status string, err error) {
	body, err := json.Marshal(in)
	if err != nil {
		return false, "", err
	}
	// Once the whole request has been written to a connection, the node
	// may act on it; before that it cannot have a decodable request.
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(w httptrace.WroteRequestInfo) {
			if w.Err == nil {
				wrote.Store(true)
			}
		},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return wrote.Load(), "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return true, resp.Status, err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return true, resp.Status, fmt.Errorf("%s: undecodable answer %.200q: %v", resp.Status, b, err)
	}
	return true, resp.Status, nil
}
