// Command httpkv is the example system of docs/byo.md: a key-value store
// that speaks the http-register protocol, run by faultline through
// examples/httpkv/target.yaml.
//
// The first node of --peers is the primary. It holds the map and, before it
// acknowledges a write, writes the whole map to DATA/kv.json (a temporary
// file, fsync, rename, fsync of the directory), so a kill never loses an
// acknowledged write. Every other node forwards every request to the
// primary: the cluster is linearizable, and unavailable while the primary
// is down or cut off. A node that cannot connect to the primary answers 421
// (it never reached the primary: a definite failure); any other forwarding
// error is 502 (the primary may have applied it).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

func main() {
	id := flag.String("id", "", "this node's id")
	listen := flag.String("listen", "", "HOST:PORT to serve on")
	peers := flag.String("peers", "", "every node as id=HOST:PORT, comma-separated; the first is the primary")
	data := flag.String("data", "", "data directory")
	flag.Parse()
	pid, paddr, _ := strings.Cut(strings.Split(*peers, ",")[0], "=")
	if *id != pid {
		log.Printf("%s forwards to the primary %s at %s", *id, pid, paddr)
		log.Fatal(http.ListenAndServe(*listen, forwarder(paddr)))
	}
	s := &store{path: filepath.Join(*data, "kv.json"), kv: map[string]int64{}}
	if b, err := os.ReadFile(s.path); err == nil {
		if err := json.Unmarshal(b, &s.kv); err != nil {
			log.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /kv/{key}", s.read)
	mux.HandleFunc("PUT /kv/{key}", s.write)
	mux.HandleFunc("POST /kv/{key}/cas", s.write)
	log.Printf("%s is the primary, %d keys", *id, len(s.kv))
	log.Fatal(http.ListenAndServe(*listen, mux))
}

type store struct {
	mu   sync.Mutex
	path string
	kv   map[string]int64
}

func (s *store) read(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	v, ok := s.kv[r.PathValue("key")]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	json.NewEncoder(w).Encode(map[string]int64{"value": v})
}

// write serves PUT (set) and POST .../cas (set if the value is "expect").
func (s *store) write(w http.ResponseWriter, r *http.Request) {
	var req struct{ Expect, Value *int64 }
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Value == nil {
		http.Error(w, "want {\"value\": N}", http.StatusBadRequest)
		return
	}
	key := r.PathValue("key")
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.kv[key]
	if r.Method == http.MethodPost && (req.Expect == nil || !had || old != *req.Expect) {
		http.Error(w, "value differs", http.StatusConflict)
		return
	}
	s.kv[key] = *req.Value
	if err := s.save(); err != nil {
		// Not acknowledged, and not visible: put the old value back.
		if s.kv[key] = old; !had {
			delete(s.kv, key)
		}
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// save writes the map durably: a new file, fsynced, renamed over the old.
func (s *store) save() error {
	b, _ := json.Marshal(s.kv)
	tmp := s.path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.path)
	}
	if err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(s.path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func forwarder(primary string) http.Handler {
	target := &url.URL{Scheme: "http", Host: primary}
	return &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport: &http.Transport{DialContext: (&net.Dialer{Timeout: 300 * time.Millisecond}).DialContext},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			var op *net.OpError
			if errors.As(err, &op) && op.Op == "dial" {
				http.Error(w, "primary unreachable: "+err.Error(), http.StatusMisdirectedRequest)
				return
			}
			http.Error(w, err.Error(), http.StatusBadGateway)
		},
	}
}
