package pgstore_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/tokens"
	"github.com/onbehalf/onbehalf/tokens/pgstore"
	"github.com/onbehalf/onbehalf/tokens/storetest"
)

func TestConformance(t *testing.T) {
	s, _, _ := newStore(t)
	storetest.Run(t, func(*testing.T) tokens.Store { return s })
}

func TestLockerConformance(t *testing.T) {
	s, _, _ := newStore(t)
	storetest.RunLocker(t, func(*testing.T) tokens.Locker { return s })
}

// The conformance suite through the Sealed decorator: what Sealed hands the
// store (a credential whose only field is Sealed) round-trips too.
func TestSealedConformance(t *testing.T) {
	s, _, _ := newStore(t)
	sealed, err := tokens.NewSealed(s, tokens.KeyRing{Keys: map[string][]byte{"k1": make([]byte, 32)}, Current: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, func(*testing.T) tokens.Store { return sealed })
}

func TestNewConfig(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), "postgres://postgres@127.0.0.1:1/test")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for _, tt := range []struct {
		name string
		cfg  pgstore.Config
		ok   bool
	}{
		{"no pool", pgstore.Config{}, false},
		{"quoted table", pgstore.Config{Pool: pool, Table: `x"; DROP TABLE y; --`}, false},
		{"schema-qualified table", pgstore.Config{Pool: pool, Table: "public.tokens"}, false},
		{"uppercase table", pgstore.Config{Pool: pool, Table: "Tokens"}, false},
		{"long table", pgstore.Config{Pool: pool, Table: strings.Repeat("t", 49)}, false},
		{"negative timeout", pgstore.Config{Pool: pool, Timeout: -1}, false},
		{"defaults", pgstore.Config{Pool: pool}, true},
		{"own table", pgstore.Config{Pool: pool, Table: "my_tokens"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pgstore.New(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("New: %v, want ok %v", err, tt.ok)
			}
		})
	}
}

// Migrate is idempotent, also when replicas run it at once.
func TestMigrateIdempotent(t *testing.T) {
	s, _, _ := newStore(t) // migrated once
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = s.Migrate(context.Background()) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("Migrate again: %v", err)
		}
	}
}

// Keys that Postgres text cannot hold (NUL, invalid UTF-8: both can arrive in
// a path or header) find nothing rather than failing as an outage.
func TestUnstorableKeyParts(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	for _, k := range []tokens.Key{
		{Project: "p", User: "u", Integration: "x\x00"},
		{Project: "p", User: "u", Integration: "x", ID: "\xff\xfe"},
	} {
		if _, err := s.Get(ctx, k); !errors.Is(err, tokens.ErrNotFound) {
			t.Errorf("Get(%q): %v, want ErrNotFound", k, err)
		}
	}
	if err := s.Save(ctx, &tokens.Connection{Project: "p", User: "u", Integration: "x", ID: "\xff"}); err == nil || errors.Is(err, tokens.ErrUnavailable) {
		t.Fatalf("Save of an invalid id: %v, want a plain error", err)
	}
}

// A holder that dies mid-refresh (locks, never releases) blocks the key only
// until its lease expires; then another replica, with a pool of its own,
// acquires it.
func TestDeadHolder(t *testing.T) {
	dead, _, table := newStore(t)
	other, err := pgstore.New(pgstore.Config{Pool: newPool(t), Table: table})
	if err != nil {
		t.Fatal(err)
	}
	storetest.RunDeadHolder(t, dead, other)
}

func TestLeaseExtend(t *testing.T) {
	s, _, _ := newStore(t)
	storetest.RunExtend(t, s)
}

// With Postgres unreachable every operation fails fast with ErrUnavailable.
func TestUnreachable(t *testing.T) {
	cfg, err := pgxpool.ParseConfig("postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s, err := pgstore.New(pgstore.Config{Pool: pool, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	k := tokens.Key{Project: "p", User: "u", Integration: "x", ID: "1"}
	secret := &tokens.Connection{Project: "p", User: "u", Integration: "x", Credential: tokens.Credential{AccessToken: "secret-access-token"}}
	for _, tt := range []struct {
		name string
		fn   func() error
	}{
		{"Get", func() error { _, err := s.Get(ctx, k); return err }},
		{"GetDefault", func() error { _, err := s.Get(ctx, tokens.Key{Project: "p", User: "u", Integration: "x"}); return err }},
		{"List", func() error { _, err := s.List(ctx, "p", "u"); return err }},
		{"Save", func() error { return s.Save(ctx, secret) }},
		{"Delete", func() error { return s.Delete(ctx, k) }},
		{"Lock", func() error { _, err := s.Lock(ctx, "k", time.Second); return err }},
		{"Migrate", func() error { return s.Migrate(ctx) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := tt.fn()
			if !errors.Is(err, tokens.ErrUnavailable) {
				t.Fatalf("%v, want ErrUnavailable", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("took %v, want a quick failure", d)
			}
			if strings.Contains(err.Error(), "secret-access-token") {
				t.Fatal("error names the credential")
			}
		})
	}
}

// The store's own Timeout bounds a statement even when the caller's context
// has no deadline: a server that accepts but never answers is unavailable.
func TestTimeoutOnSilentServer(t *testing.T) {
	f := onbehalftest.NewTCPForwarder(t, "") // accepts connections and never answers
	pool, err := pgxpool.New(context.Background(), "postgres://postgres@"+f.Addr()+"/test?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s, err := pgstore.New(pgstore.Config{Pool: pool, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.Get(context.Background(), tokens.Key{Project: "p", User: "u", Integration: "x"})
	if !errors.Is(err, tokens.ErrUnavailable) {
		t.Fatalf("Get: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v, want about the Timeout", d)
	}
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Get(cctx, tokens.Key{Project: "p", User: "u", Integration: "x"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a canceled context: %v, want context.Canceled", err)
	}
}

// Replicas, each with a pool of its own, refreshing one connection.
func TestRefreshReplicas(t *testing.T) {
	_, _, table := newStore(t)
	storetest.RunRefresh(t, func(t *testing.T, _ int) (tokens.Store, tokens.Locker) {
		s, err := pgstore.New(pgstore.Config{Pool: newPool(t), Table: table})
		if err != nil {
			t.Fatal(err)
		}
		return s, s
	})
}

// A table created before the reason and refreshing columns existed gets them
// from Migrate, and keeps its rows.
func TestMigrateAddsRefreshColumns(t *testing.T) {
	pool := newPool(t)
	table := testTable(t, pool)
	ctx := context.Background()
	old := `CREATE TABLE ` + table + ` (
    project text COLLATE "C" NOT NULL, user_id text COLLATE "C" NOT NULL,
    integration text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL,
    credential jsonb NOT NULL, fields jsonb, status text NOT NULL DEFAULT '',
    version bigint NOT NULL, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
    PRIMARY KEY (project, user_id, integration, id));
INSERT INTO ` + table + ` VALUES ('p', 'u', 'x', 'a', '{}', NULL, 'active', 1, now(), now());`
	if _, err := pool.Exec(ctx, old); err != nil {
		t.Fatal(err)
	}
	s, err := pgstore.New(pgstore.Config{Pool: pool, Table: table})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate of an old table: %v", err)
	}
	c, err := s.Get(ctx, tokens.Key{Project: "p", User: "u", Integration: "x", ID: "a"})
	if err != nil || c.Refreshing != nil || c.Reason != "" {
		t.Fatalf("old row after Migrate: %v, %+v", err, c)
	}
	c.Refreshing = &tokens.RefreshIntent{TokenHash: "h", Since: time.Now().UTC()}
	if err := s.Save(ctx, c); err != nil {
		t.Fatalf("Save with an intent: %v", err)
	}
}
