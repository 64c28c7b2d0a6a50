package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/onbehalf/onbehalf/tokens"
)

var (
	_ tokens.DueIndex    = (*Store)(nil)
	_ tokens.VerifyIndex = (*Store)(nil)
)

// dueKey is the sorted set of tokens.DueIndex.Due.
func (s *Store) dueKey() string { return s.prefix + "{due}:due" }

// idleKey is the sorted set of tokens.DueIndex.Idle for integration.
func (s *Store) idleKey(integration string) string {
	return s.prefix + "{due}:idle:" + escape(integration)
}

// verifyKey is the sorted set of tokens.VerifyIndex for integration.
func (s *Store) verifyKey(integration string) string {
	return s.prefix + "{due}:verify:" + escape(integration)
}

// dueMember names a connection in the due sets.
func dueMember(k tokens.Key) string {
	return k.Project + "\x00" + k.User + "\x00" + k.Integration + "\x00" + k.ID
}

// score is t in Unix microseconds: exact in a sorted set's float64 until
// the year 2255.
func score(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }

// schedule is what the scripts write to the due sets ("" scores remove).
type schedule struct{ due, idle, verify, member string }

// schedule returns c's entries in the due sets (see tokens.Schedule).
func (s *Store) schedule(k tokens.Key, c *tokens.Connection) schedule {
	sc := schedule{member: dueMember(k)}
	due, idle := tokens.Schedule(c)
	if !due.IsZero() {
		sc.due = score(due)
	}
	if !idle.IsZero() {
		sc.idle = score(idle)
	}
	if v := tokens.VerifySchedule(c); !v.IsZero() {
		sc.verify = score(v)
	}
	return sc
}

// withDue appends the due sets to a script's keys, unless on Cluster.
func (s *Store) withDue(keys []string, k tokens.Key) []string {
	if s.cluster {
		return keys
	}
	return append(keys, s.dueKey(), s.idleKey(k.Integration), s.verifyKey(k.Integration))
}

// indexBeside writes the due sets after a script, on Cluster only (see the
// key layout). A failure leaves an entry stale, never a connection lost.
func (s *Store) indexBeside(ctx context.Context, k tokens.Key, sc schedule) {
	if !s.cluster {
		return
	}
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, z := range []struct{ key, score string }{{s.dueKey(), sc.due}, {s.idleKey(k.Integration), sc.idle}, {s.verifyKey(k.Integration), sc.verify}} {
			if z.score == "" {
				p.ZRem(ctx, z.key, sc.member)
			} else {
				f, _ := strconv.ParseFloat(z.score, 64)
				p.ZAdd(ctx, z.key, redis.Z{Score: f, Member: sc.member})
			}
		}
		return nil
	})
}

// Due implements tokens.DueIndex: one ZRANGEBYSCORE.
func (s *Store) Due(ctx context.Context, before time.Time, limit int) ([]tokens.Key, error) {
	return s.query(ctx, "due", s.dueKey(), before, limit)
}

// Idle implements tokens.DueIndex: one ZRANGEBYSCORE.
func (s *Store) Idle(ctx context.Context, integration string, before time.Time, limit int) ([]tokens.Key, error) {
	return s.query(ctx, "idle", s.idleKey(integration), before, limit)
}

func (s *Store) query(ctx context.Context, what, key string, before time.Time, limit int) ([]tokens.Key, error) {
	if limit <= 0 {
		return nil, nil
	}
	octx, cancel := s.op(ctx)
	defer cancel()
	members, err := s.rdb.ZRangeByScore(octx, key, &redis.ZRangeBy{Min: "-inf", Max: "(" + score(before), Count: int64(limit)}).Result()
	if err != nil {
		return nil, fail(ctx, what, err)
	}
	keys := make([]tokens.Key, 0, len(members))
	for _, m := range members {
		p := strings.Split(m, "\x00")
		if len(p) != 4 {
			return nil, fmt.Errorf("%w: redisstore: %s: malformed index member", tokens.ErrUnavailable, what)
		}
		keys = append(keys, tokens.Key{Project: p[0], User: p[1], Integration: p[2], ID: p[3]})
	}
	return keys, nil
}

// Unverified implements tokens.VerifyIndex: one ZRANGEBYSCORE.
func (s *Store) Unverified(ctx context.Context, integration string, before time.Time, limit int) ([]tokens.Key, error) {
	return s.query(ctx, "unverified", s.verifyKey(integration), before, limit)
}
