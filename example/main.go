// Command example runs onbehalf as a server.
//
// With no flags it starts the demo: a built-in fake provider "TaskLab" on
// loopback, an in-memory store with one connected user, a freshly generated
// signing key, and the proxy on 127.0.0.1:8080. It prints PROJECT= and TOKEN=
// lines and ready-to-paste curl commands.
//
// With -config FILE it runs as a standalone proxy for backends not written in
// Go: projects with their keys, integrations, and seeded connections come from
// one JSON file (see config.example.json and the README).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/onbehalf/onbehalf/internal/configfile"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("example", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "", "listen address (default 127.0.0.1:8080, or the config file's addr)")
	configPath := fs.String("config", "", "run the standalone proxy from this JSON config file instead of the demo")
	check := fs.Bool("check", false, "with -config: validate the file, print each problem, and exit")
	printToken := fs.Bool("print-token", false, "with -config and -key: print a user token for -user in -project and exit")
	keyPath := fs.String("key", "", "with -print-token: PEM file of the project's private signing key")
	user := fs.String("user", "", "with -print-token: the user id (sub)")
	project := fs.String("project", "", "with -print-token: the project id (default: the config's only project)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	var (
		srv    *server
		err    error
		banner func(base string)
	)
	if *configPath != "" {
		cfg, err := loadConfig(*configPath)
		if *check {
			return configfile.Report(stdout, err)
		}
		if err != nil {
			return err
		}
		if *printToken {
			return printUserToken(stdout, cfg, *keyPath, *project, *user)
		}
		if *addr == "" {
			*addr = cfg.Addr
		}
		if srv, err = newConfigServer(cfg, log); err != nil {
			return err
		}
		banner = func(base string) { fmt.Fprintf(stdout, "onbehalf proxy listening on %s\n", base) }
	} else {
		if *check || *printToken {
			return errors.New("-check and -print-token need -config")
		}
		d, err := newDemo(log)
		if err != nil {
			return err
		}
		defer d.close()
		srv = d.server
		banner = func(base string) { d.printBanner(stdout, base) }
	}
	if *addr == "" {
		*addr = "127.0.0.1:8080"
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := newHTTPServer(srv.handler, log)
	banner("http://" + ln.Addr().String())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = hs.Shutdown(shutdown)
	srv.close()
	return err
}

// server is what both modes run.
type server struct {
	handler http.Handler
	close   func()
}

// newHTTPServer is the demo's and the standalone mode's http.Server. Its
// header limit is net/http's default (1 MiB), above the handler's own
// (middleware.Config.MaxHeaderBytes, 64 KiB): an oversized header, such as a
// user token of 70 KiB, gets the handler's JSON 431 REQUEST_HEADERS_TOO_LARGE
// rather than the server's plain-text 431.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: http.DefaultMaxHeaderBytes,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
}
