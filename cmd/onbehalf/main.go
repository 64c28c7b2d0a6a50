package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/onbehalf/onbehalf/internal/configfile"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv); err != nil {
		fmt.Fprintln(os.Stderr, "onbehalf:", err)
		os.Exit(1)
	}
}

const usage = `Usage:
  onbehalf -config FILE            run the server
  onbehalf -check -config FILE     validate the config, print every problem by its JSON path, and exit
  onbehalf migrate -config FILE    create or update the Postgres tables, and exit
`

// run is main with its environment passed in. It serves until ctx ends or
// SIGTERM/SIGINT arrives.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) (string, bool)) error {
	migrate := len(args) > 0 && args[0] == "migrate"
	if migrate {
		args = args[1:]
	}
	fs := flag.NewFlagSet("onbehalf", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	configPath := fs.String("config", "", "the JSON config file (see docs/server.md)")
	check := fs.Bool("check", false, "validate the config, print each problem, and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *configPath == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("-config FILE is required")
	}
	l, err := loadConfig(*configPath, getenv)
	if *check {
		return configfile.Report(stdout, err)
	}
	if err != nil {
		var ps configfile.Problems
		if errors.As(err, &ps) {
			_ = configfile.Report(stderr, err)
			return fmt.Errorf("%d problem(s) in %s", len(ps), *configPath)
		}
		return err
	}
	log := newLogger(stderr, l.LogLevel)
	redis.SetLogger(redisLogger{log})
	if migrate {
		if l.Store.Type != "postgres" {
			return errors.New(`migrate: store.type is not "postgres"; nothing to migrate`)
		}
		st, err := openStores(ctx, l.Store, true)
		if err != nil {
			return err
		}
		st.close()
		fmt.Fprintln(stdout, "migrated")
		return nil
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := newServer(ctx, l, log)
	if err != nil {
		return err
	}
	addr := l.Listen
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.stores.close()
		return err
	}
	var mln net.Listener
	if l.MetricsListen != "" {
		if mln, err = net.Listen("tcp", l.MetricsListen); err != nil {
			ln.Close()
			s.stores.close()
			return err
		}
		log.Info("metrics listening", "addr", mln.Addr().String())
	}
	var gln net.Listener
	if l.Manage.Listen != "" {
		if gln, err = net.Listen("tcp", l.Manage.Listen); err != nil {
			ln.Close()
			if mln != nil {
				mln.Close()
			}
			s.stores.close()
			return err
		}
		log.Info("management API listening", "addr", gln.Addr().String())
	}
	log.Info("onbehalf listening", "addr", ln.Addr().String(), "publicUrl", l.PublicURL, "store", l.Store.Type,
		"tls", l.TLS != nil, "sealed", l.Store.Sealing != nil)
	return s.serve(ctx, ln, mln, gln)
}

// newLogger returns the JSON logger at level.
func newLogger(w io.Writer, level string) *slog.Logger {
	var lv slog.Level
	switch level {
	case "debug":
		lv = slog.LevelDebug
	case "warn":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv}))
}

// redisLogger sends go-redis's own messages (pool dial failures) to the
// JSON log at Warn.
type redisLogger struct{ log *slog.Logger }

func (r redisLogger) Printf(_ context.Context, format string, v ...any) {
	r.log.Warn("redis: " + fmt.Sprintf(format, v...))
}
