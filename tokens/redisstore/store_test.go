package redisstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/tokens"
	"github.com/onbehalf/onbehalf/tokens/redisstore"
	"github.com/onbehalf/onbehalf/tokens/storetest"
)

func TestConformance(t *testing.T) {
	s, _ := newStore(t)
	storetest.Run(t, func(*testing.T) tokens.Store { return s })
}

func TestLockerConformance(t *testing.T) {
	s, _ := newStore(t)
	storetest.RunLocker(t, func(*testing.T) tokens.Locker { return s })
}

// The conformance suite through the Sealed decorator: what Sealed hands the
// store (a credential whose only field is Sealed) round-trips too.
func TestSealedConformance(t *testing.T) {
	s, _ := newStore(t)
	sealed, err := tokens.NewSealed(s, tokens.KeyRing{Keys: map[string][]byte{"k1": make([]byte, 32)}, Current: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, func(*testing.T) tokens.Store { return sealed })
}

func TestNewConfig(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	for _, tt := range []struct {
		name string
		cfg  redisstore.Config
		ok   bool
	}{
		{"no client", redisstore.Config{}, false},
		{"hash tag in prefix", redisstore.Config{Client: rdb, Prefix: "a{b}:"}, false},
		{"negative timeout", redisstore.Config{Client: rdb, Timeout: -1}, false},
		{"defaults", redisstore.Config{Client: rdb}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := redisstore.New(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("New: %v, want ok %v", err, tt.ok)
			}
		})
	}
}

// Key parts are escaped: ids holding the separators or braces do not make two
// users' keys collide, and do not break the hash tag.
func TestHostileKeyParts(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	a := &tokens.Connection{Project: "p", User: "a:b", Integration: "x", ID: "1", Fields: map[string]string{"who": "a:b"}}
	b := &tokens.Connection{Project: "p:a", User: "b", Integration: "x", ID: "1", Fields: map[string]string{"who": "p:a/b"}}
	c := &tokens.Connection{Project: "p}{", User: "%3A", Integration: "x:{y}%", ID: "id:with{braces}%", Fields: map[string]string{"who": "c"}}
	for _, conn := range []*tokens.Connection{a, b, c} {
		if err := s.Save(ctx, conn); err != nil {
			t.Fatalf("Save(%s): %v", conn.Key(), err)
		}
	}
	for _, conn := range []*tokens.Connection{a, b, c} {
		got, err := s.Get(ctx, conn.Key())
		if err != nil || got.Fields["who"] != conn.Fields["who"] {
			t.Fatalf("Get(%s): %v, %v", conn.Key(), got, err)
		}
		def := conn.Key()
		def.ID = ""
		if got, err := s.Get(ctx, def); err != nil || got.ID != conn.ID {
			t.Fatalf("default of %s: %v, %v", def, got, err)
		}
		list, err := s.List(ctx, conn.Project, conn.User)
		if err != nil || len(list) != 1 || list[0].Key() != conn.Key() {
			t.Fatalf("List(%s/%s): %v, %v; want just %s", conn.Project, conn.User, list, err, conn.Key())
		}
	}
	// NUL cannot be stored (it separates the index); asking for it finds nothing.
	if _, err := s.Get(ctx, tokens.Key{Project: "p", User: "a:b", Integration: "x\x00", ID: "1"}); !errors.Is(err, tokens.ErrNotFound) {
		t.Fatalf("Get of a key with NUL: %v, want ErrNotFound", err)
	}
	if err := s.Save(ctx, &tokens.Connection{Project: "p", User: "u", Integration: "x\x00y"}); err == nil {
		t.Fatal("Save of a key with NUL succeeded")
	}
}

// A holder that dies mid-refresh (locks, never releases) blocks the key only
// until its lease expires; then another replica, with a client of its own,
// acquires it.
func TestDeadHolder(t *testing.T) {
	rdb := newClient(t)
	prefix := testPrefix(t, rdb)
	dead, err := redisstore.New(redisstore.Config{Client: rdb, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	other, err := redisstore.New(redisstore.Config{Client: newClient(t), Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	storetest.RunDeadHolder(t, dead, other)
}

func TestLeaseExtend(t *testing.T) {
	s, _ := newStore(t)
	storetest.RunExtend(t, s)
}

// With Redis unreachable every operation fails fast with ErrUnavailable.
func TestUnreachable(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 500 * time.Millisecond, MaxRetries: 1})
	defer rdb.Close()
	s, err := redisstore.New(redisstore.Config{Client: rdb, Timeout: time.Second})
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

// The store's own Timeout bounds a round trip even when the caller's context
// has no deadline: a Redis that accepts but never answers is unavailable.
func TestTimeoutOnSilentServer(t *testing.T) {
	f := onbehalftest.NewTCPForwarder(t, "") // accepts connections and never answers
	rdb := redis.NewClient(&redis.Options{Addr: f.Addr(), MaxRetries: -1, ReadTimeout: -1, WriteTimeout: -1, ContextTimeoutEnabled: true})
	defer rdb.Close()
	s, err := redisstore.New(redisstore.Config{Client: rdb, Timeout: 300 * time.Millisecond})
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
	// The caller's own cancellation is reported as such.
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Get(cctx, tokens.Key{Project: "p", User: "u", Integration: "x"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a canceled context: %v, want context.Canceled", err)
	}
}

// Replicas, each with a Redis client of its own, refreshing one connection.
func TestRefreshReplicas(t *testing.T) {
	rdb := newClient(t)
	prefix := testPrefix(t, rdb)
	storetest.RunRefresh(t, func(t *testing.T, _ int) (tokens.Store, tokens.Locker) {
		s, err := redisstore.New(redisstore.Config{Client: newClient(t), Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		return s, s
	})
}
