package raft

import (
	"errors"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/faultline-io/faultline/targets/raft/core"
	"github.com/faultline-io/faultline/targets/seam"
)

// captureTransport records what a node sends.
type captureTransport struct {
	mu   sync.Mutex
	sent []core.Message
}

func (c *captureTransport) Send(msgs []core.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, msgs...)
}

func (c *captureTransport) Close() error { return nil }

// The WAL through the storage seam: with lose-unsynced on, records not yet
// synced are gone after a crash (the file reopened without Close); with
// EIO on, Sync fails.
func TestFileStorageOnSeam(t *testing.T) {
	path := filepath.Join(t.TempDir(), WALFile)
	d := seam.NewDisk()
	s, err := OpenFileStorageOn(path, d)
	if err != nil {
		t.Fatal(err)
	}
	defer s.f.Close()
	if _, err := s.ReadAll(); err != nil {
		t.Fatal(err)
	}
	s.Append([]byte("page-cache"))
	d.SetLoseUnsynced(true)
	s.Append([]byte("synced"))
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	s.Append([]byte("lost"))
	// Crash: no Close; a new process opens the file.
	s2, err := OpenFileStorage(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	recs, err := s2.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || string(recs[0]) != "page-cache" || string(recs[1]) != "synced" {
		t.Fatalf("after the crash: %q, want page-cache and synced only", recs)
	}
	d.SetEIO(true)
	if err := s.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Sync with EIO on: %v", err)
	}
}

// The message shim sits in front of the transport: a dup rule doubles
// what reaches it, a drop rule stops it.
func TestShimTransport(t *testing.T) {
	inner := &captureTransport{}
	m := seam.NewMessages(nil)
	tr := NewShimTransport(inner, m)
	defer tr.Close()
	if err := m.SetRules(map[string]seam.MsgRule{"n2": {Dup: 1}, "n3": {Drop: 1}}, 1); err != nil {
		t.Fatal(err)
	}
	tr.Send([]core.Message{{Type: core.MsgApp, To: "n2"}, {Type: core.MsgApp, To: "n3"}})
	inner.mu.Lock()
	defer inner.mu.Unlock()
	if len(inner.sent) != 2 || inner.sent[0].To != "n2" || inner.sent[1].To != "n2" {
		t.Fatalf("sent %v, want two copies to n2 and nothing to n3", inner.sent)
	}
}
