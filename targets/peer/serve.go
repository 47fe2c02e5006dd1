package peer

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"
)

// Serve runs a bundled node: it serves handler on ln and runs run (the
// node's event loop) until ctx is done, run returns, or the server fails.
// The server is then closed abruptly, so a stopping node behaves like a
// crashed one. It returns run's error, or the server's.
func Serve(ctx context.Context, ln net.Listener, handler http.Handler, logger *log.Logger, run func(context.Context) error) error {
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: logger}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	runErr := make(chan error, 1)
	go func() { runErr <- run(runCtx) }()
	var err error
	select {
	case err = <-runErr:
	case err = <-serveErr:
		stop()
		<-runErr
		err = fmt.Errorf("http server: %w", err)
	}
	srv.Close()
	if err == nil {
		logger.Printf("stopped")
	}
	return err
}
