package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/onbehalf/onbehalf/tokens"
)

// Config configures New.
type Config struct {
	// Client is the Redis client: a *redis.Client, a *redis.ClusterClient
	// or any other UniversalClient. Required. The Store does not close it.
	Client redis.UniversalClient
	// Prefix starts every key the Store writes. Empty means "onbehalf:". It
	// must not contain '{' or '}' (the keys carry a Cluster hash tag).
	Prefix string
	// Timeout bounds each Redis round trip of Get, List, Save, Delete and of
	// the Locker's commands (not the wait of Lock, which ctx bounds), through
	// the context. Zero means 5 seconds; negative is an error. A round trip
	// that runs out of it fails with ErrUnavailable. go-redis honors context
	// deadlines on the socket only with Options.ContextTimeoutEnabled; without
	// it, its DialTimeout, ReadTimeout and WriteTimeout (5, 3 and 3 seconds by
	// default) bound a round trip to an unresponsive server.
	Timeout time.Duration
}

// Store is a tokens.Store and a tokens.Locker over Redis, shared by every
// replica that uses the same Redis and Prefix. Build it with New. It is safe
// for concurrent use.
//
// Each connection is one hash; a sorted set per (project, user) indexes them
// for List and the default connection. Save (compare-and-swap on Version),
// create and Delete are Lua scripts, so each is atomic. Times are stored in
// UTC with nanoseconds.
//
// Errors wrap tokens.ErrNotFound, tokens.ErrConflict, or, when Redis cannot
// be reached or fails, tokens.ErrUnavailable; when ctx ends first, ctx's
// error. No error names a credential.
type Store struct {
	rdb     redis.UniversalClient
	prefix  string
	timeout time.Duration
	now     func() time.Time
	cluster bool // the due indexes live in another slot: written beside the scripts
}

var (
	_ tokens.Store  = (*Store)(nil)
	_ tokens.Locker = (*Store)(nil)
)

// New checks cfg and returns a Store. It does not contact Redis.
func New(cfg Config) (*Store, error) {
	if cfg.Client == nil {
		return nil, errors.New("redisstore: Config.Client is required")
	}
	if strings.ContainsAny(cfg.Prefix, "{}") {
		return nil, errors.New("redisstore: Config.Prefix must not contain '{' or '}'")
	}
	if cfg.Timeout < 0 {
		return nil, errors.New("redisstore: negative Config.Timeout")
	}
	s := &Store{rdb: cfg.Client, prefix: cfg.Prefix, timeout: cfg.Timeout, now: time.Now}
	_, s.cluster = cfg.Client.(*redis.ClusterClient)
	if s.prefix == "" {
		s.prefix = "onbehalf:"
	}
	if s.timeout == 0 {
		s.timeout = 5 * time.Second
	}
	return s, nil
}

// record is what the hash's "d" field holds.
type record struct {
	Credential tokens.Credential     `json:"credential"`
	Fields     map[string]string     `json:"fields"`
	Status     tokens.Status         `json:"status"`
	Reason     string                `json:"reason,omitempty"`
	Refreshing *tokens.RefreshIntent `json:"refreshing,omitempty"`
	Failures   int                   `json:"failures,omitempty"`
	LastError  string                `json:"last_error,omitempty"`
	LastUsed   time.Time             `json:"last_used,omitzero"`
	Verified   time.Time             `json:"verified,omitzero"`
	VerifyErr  string                `json:"verify_error,omitempty"`
}

func encodeRecord(c *tokens.Connection) (string, error) {
	cred := c.Credential
	if !cred.Expiry.IsZero() {
		cred.Expiry = cred.Expiry.UTC()
	}
	b, err := json.Marshal(record{Credential: cred, Fields: c.Fields, Status: c.Status, Reason: c.Reason, Refreshing: c.Refreshing,
		Failures: c.Failures, LastError: c.LastError, LastUsed: utc(c.LastUsed), Verified: utc(c.Verified), VerifyErr: c.VerifyError})
	if err != nil {
		// json.Marshal of strings and a time fails only for years past 9999;
		// its error could quote the value, so it is not passed on.
		return "", fmt.Errorf("redisstore: save %s: cannot encode the connection", c.Key())
	}
	return string(b), nil
}

// utc returns t in UTC, the zero time as is.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// decode builds a connection from its key parts and hash fields v, c, u, d.
func decode(k tokens.Key, v, created, updated, data any) (*tokens.Connection, error) {
	vs, ok1 := v.(string)
	cs, ok2 := created.(string)
	us, ok3 := updated.(string)
	ds, ok4 := data.(string)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return nil, fmt.Errorf("%w: redisstore: %s: malformed entry", tokens.ErrUnavailable, k)
	}
	c := &tokens.Connection{Project: k.Project, User: k.User, Integration: k.Integration, ID: k.ID}
	var r record
	var err error
	if c.Version, err = strconv.ParseInt(vs, 10, 64); err == nil {
		if c.CreatedAt, err = time.Parse(time.RFC3339Nano, cs); err == nil {
			if c.UpdatedAt, err = time.Parse(time.RFC3339Nano, us); err == nil {
				err = json.Unmarshal([]byte(ds), &r)
			}
		}
	}
	if err != nil {
		// The JSON decoder's errors can quote the input: never pass them on.
		return nil, fmt.Errorf("%w: redisstore: %s: malformed entry", tokens.ErrUnavailable, k)
	}
	c.Credential, c.Fields, c.Status, c.Reason, c.Refreshing = r.Credential, r.Fields, r.Status, r.Reason, r.Refreshing
	c.Failures, c.LastError = r.Failures, r.LastError
	c.LastUsed, c.Verified, c.VerifyError = r.LastUsed, r.Verified, r.VerifyErr
	return c, nil
}

// op returns the context of one round trip, bounded by the Store's Timeout.
func (s *Store) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// fail wraps an error of Redis: ctx's error when the caller's ctx ended,
// tokens.ErrUnavailable otherwise (our own Timeout included).
func fail(ctx context.Context, what string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("redisstore: %s: %w", what, cerr)
	}
	return fmt.Errorf("%w: redisstore: %s: %w", tokens.ErrUnavailable, what, err)
}

// validKey reports whether the parts of k can name a stored connection: the
// index uses NUL as a separator, so no part holds one; and all are UTF-8, as
// every other store requires.
func validKey(k tokens.Key) bool {
	for _, p := range []string{k.Project, k.User, k.Integration, k.ID} {
		if strings.IndexByte(p, 0) >= 0 || !utf8.ValidString(p) {
			return false
		}
	}
	return true
}

// Get implements tokens.Store.
func (s *Store) Get(ctx context.Context, k tokens.Key) (*tokens.Connection, error) {
	if !validKey(k) {
		return nil, fmt.Errorf("%w: %s", tokens.ErrNotFound, k)
	}
	octx, cancel := s.op(ctx)
	defer cancel()
	if k.ID != "" {
		vals, err := s.rdb.HMGet(octx, s.connPrefix(k.Project, k.User, k.Integration)+k.ID, "v", "c", "u", "d").Result()
		if err != nil {
			return nil, fail(ctx, "get "+k.String(), err)
		}
		if vals[0] == nil {
			return nil, fmt.Errorf("%w: %s", tokens.ErrNotFound, k)
		}
		return decode(k, vals[0], vals[1], vals[2], vals[3])
	}
	res, err := getDefault.Run(octx, s.rdb, []string{s.indexKey(k.Project, k.User)},
		"["+k.Integration+"\x00", "("+k.Integration+"\x01",
		s.connPrefix(k.Project, k.User, k.Integration), len(k.Integration)+1+createdLen).Slice()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("%w: %s", tokens.ErrNotFound, k)
	}
	if err != nil {
		return nil, fail(ctx, "get "+k.String(), err)
	}
	if len(res) != 5 {
		return nil, fmt.Errorf("%w: redisstore: %s: malformed script answer", tokens.ErrUnavailable, k)
	}
	k.ID, _ = res[0].(string)
	return decode(k, res[1], res[2], res[3], res[4])
}

// List implements tokens.Store. It reads the index, then the connections in
// one pipeline; a connection deleted between the two is left out.
func (s *Store) List(ctx context.Context, project, user string) ([]*tokens.Connection, error) {
	what := "list " + project + "/" + user
	if !validKey(tokens.Key{Project: project, User: user}) {
		return nil, nil
	}
	octx, cancel := s.op(ctx)
	defer cancel()
	members, err := s.rdb.ZRange(octx, s.indexKey(project, user), 0, -1).Result()
	if err != nil {
		return nil, fail(ctx, what, err)
	}
	if len(members) == 0 {
		return nil, nil
	}
	keys := make([]tokens.Key, len(members))
	cmds := make([]*redis.SliceCmd, len(members))
	_, err = s.rdb.Pipelined(octx, func(p redis.Pipeliner) error {
		for i, m := range members {
			integration, id, ok := memberParts(m)
			if !ok {
				return fmt.Errorf("malformed index member")
			}
			keys[i] = tokens.Key{Project: project, User: user, Integration: integration, ID: id}
			cmds[i] = p.HMGet(octx, s.connPrefix(project, user, integration)+id, "v", "c", "u", "d")
		}
		return nil
	})
	if err != nil {
		return nil, fail(ctx, what, err)
	}
	out := make([]*tokens.Connection, 0, len(members))
	for i, cmd := range cmds {
		vals := cmd.Val()
		if len(vals) != 4 || vals[0] == nil {
			continue // deleted since the index was read
		}
		c, err := decode(keys[i], vals[0], vals[1], vals[2], vals[3])
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Save implements tokens.Store. On update the stored CreatedAt is kept (and
// copied to c).
func (s *Store) Save(ctx context.Context, c *tokens.Connection) error {
	id := c.ID
	if c.Version == 0 && id == "" {
		id = tokens.NewID()
	}
	k := c.Key()
	k.ID = id
	if id == "" || !validKey(k) {
		return fmt.Errorf("redisstore: save %s: invalid key (an update needs the ID; no part may hold NUL or invalid UTF-8)", k)
	}
	data, err := encodeRecord(c)
	if err != nil {
		return err
	}
	now := s.now().UTC().Round(0)
	connKey := s.connPrefix(k.Project, k.User, k.Integration) + id
	octx, cancel := s.op(ctx)
	defer cancel()
	if c.Version == 0 {
		created := c.CreatedAt.UTC()
		if c.CreatedAt.IsZero() {
			created = now
		}
		c.CreatedAt = created // for Schedule; set again below
		sc := s.schedule(k, c)
		ok, err := create.Run(octx, s.rdb, s.withDue([]string{connKey, s.indexKey(k.Project, k.User)}, k),
			member(k.Integration, created, id), formatTime(created), formatTime(now), data, sc.due, sc.idle, sc.verify, sc.member).Int()
		if err != nil {
			return fail(ctx, "save "+k.String(), err)
		}
		if ok == 0 {
			return fmt.Errorf("%w: %s exists", tokens.ErrConflict, k)
		}
		s.indexBeside(octx, k, sc)
		c.ID, c.Version, c.CreatedAt, c.UpdatedAt = id, 1, created, now
		return nil
	}
	sc := s.schedule(k, c)
	res, err := update.Run(octx, s.rdb, s.withDue([]string{connKey}, k), strconv.FormatInt(c.Version, 10), formatTime(now), data,
		sc.due, sc.idle, sc.verify, sc.member).Slice()
	if err != nil {
		return fail(ctx, "save "+k.String(), err)
	}
	code, _ := res[0].(int64)
	switch {
	case code == 0:
		return fmt.Errorf("%w: %s", tokens.ErrNotFound, k)
	case code == 1:
		return fmt.Errorf("%w: %s at version %v, not %d", tokens.ErrConflict, k, res[1], c.Version)
	case code != 2 || len(res) != 3:
		return fmt.Errorf("%w: redisstore: save %s: malformed script answer", tokens.ErrUnavailable, k)
	}
	v, _ := res[1].(int64)
	cs, _ := res[2].(string)
	created, err := time.Parse(time.RFC3339Nano, cs)
	if err != nil {
		return fmt.Errorf("%w: redisstore: save %s: malformed entry", tokens.ErrUnavailable, k)
	}
	s.indexBeside(octx, k, sc)
	c.Version, c.CreatedAt, c.UpdatedAt = v, created, now
	return nil
}

// Delete implements tokens.Store.
func (s *Store) Delete(ctx context.Context, k tokens.Key) error {
	if k.ID == "" {
		return fmt.Errorf("%w: delete needs a connection id: %s", tokens.ErrNotFound, k)
	}
	if !validKey(k) {
		return fmt.Errorf("%w: %s", tokens.ErrNotFound, k)
	}
	octx, cancel := s.op(ctx)
	defer cancel()
	sc := schedule{member: dueMember(k)}
	n, err := remove.Run(octx, s.rdb, s.withDue([]string{s.connPrefix(k.Project, k.User, k.Integration) + k.ID, s.indexKey(k.Project, k.User)}, k),
		"", "", "", sc.member).Int()
	if err != nil {
		return fail(ctx, "delete "+k.String(), err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", tokens.ErrNotFound, k)
	}
	s.indexBeside(octx, k, sc)
	return nil
}
