package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/onbehalf/onbehalf/lifecycle"
	"github.com/onbehalf/onbehalf/tokens"
)

// Outbox is a lifecycle.Outbox in Redis, shared by every replica that uses
// the same Redis and Prefix. Get it from Store.Outbox. It is safe for
// concurrent use.
//
// Layout, for a prefix P:
//
//	P{outbox}:due   sorted set: event id, scored by when it is due (Unix ms)
//	P{outbox}:e     hash: event id → JSON of its lifecycle.Entry
//
// Both keys share a Cluster hash tag. Add, Claim, Ack and Nack are Lua
// scripts, so a claim reads the due entries and pushes them past their lease
// in one atomic step: two claimers never get one entry within a lease.
// Events are kept until acknowledged (Redis persistence, AOF or RDB, decides
// what survives a Redis restart).
type Outbox struct {
	s        *Store
	due, ent string
}

var _ lifecycle.Outbox = (*Outbox)(nil)

// Outbox returns the outbox of lifecycle events kept beside the store's
// connections.
func (s *Store) Outbox() *Outbox {
	return &Outbox{s: s, due: s.prefix + "{outbox}:due", ent: s.prefix + "{outbox}:e"}
}

var (
	// outboxAdd: KEYS due, entries; ARGV id, entry, score.
	outboxAdd = redis.NewScript(`
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 1 then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
end
return 1
`)
	// outboxClaim: KEYS due, entries; ARGV now, limit, lease end (scores).
	// Returns the entries' JSON.
	outboxClaim = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  local v = redis.call('HGET', KEYS[2], id)
  if v then
    redis.call('ZADD', KEYS[1], ARGV[3], id)
    out[#out + 1] = v
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
`)
	// outboxAck: KEYS due, entries; ARGV id.
	outboxAck = redis.NewScript(`
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
`)
	// outboxNack: KEYS due, entries; ARGV id, entry, score. Only an entry
	// still present is updated.
	outboxNack = redis.NewScript(`
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
end
return 1
`)
)

// outboxScore is an entry's due time as its sorted-set score: Unix milliseconds.
func outboxScore(t time.Time) int64 { return t.UnixMilli() }

func encodeEntry(e lifecycle.Entry) (string, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return "", errors.New("redisstore: outbox: cannot encode the event")
	}
	return string(b), nil
}

// Add implements lifecycle.Outbox.
func (o *Outbox) Add(ctx context.Context, ev lifecycle.Event) error {
	v, err := encodeEntry(lifecycle.Entry{Event: ev})
	if err != nil {
		return err
	}
	octx, cancel := o.s.op(ctx)
	defer cancel()
	if err := outboxAdd.Run(octx, o.s.rdb, []string{o.due, o.ent}, ev.ID, v, outboxScore(ev.Time)).Err(); err != nil {
		return fail(ctx, "outbox add", err)
	}
	return nil
}

// Claim implements lifecycle.Outbox.
func (o *Outbox) Claim(ctx context.Context, req lifecycle.ClaimRequest) ([]lifecycle.Entry, error) {
	if req.Limit < 1 || req.Lease <= 0 {
		return nil, errors.New("redisstore: outbox claim: Limit and Lease must be positive")
	}
	octx, cancel := o.s.op(ctx)
	defer cancel()
	res, err := outboxClaim.Run(octx, o.s.rdb, []string{o.due, o.ent},
		outboxScore(req.Now), req.Limit, outboxScore(req.Now.Add(req.Lease))).StringSlice()
	if err != nil {
		return nil, fail(ctx, "outbox claim", err)
	}
	out := make([]lifecycle.Entry, 0, len(res))
	for _, v := range res {
		var e lifecycle.Entry
		if err := json.Unmarshal([]byte(v), &e); err != nil {
			return nil, fmt.Errorf("%w: redisstore: outbox: malformed entry", tokens.ErrUnavailable)
		}
		out = append(out, e)
	}
	return out, nil
}

// Ack implements lifecycle.Outbox.
func (o *Outbox) Ack(ctx context.Context, id string) error {
	octx, cancel := o.s.op(ctx)
	defer cancel()
	if err := outboxAck.Run(octx, o.s.rdb, []string{o.due, o.ent}, id).Err(); err != nil {
		return fail(ctx, "outbox ack", err)
	}
	return nil
}

// Nack implements lifecycle.Outbox.
func (o *Outbox) Nack(ctx context.Context, e lifecycle.Entry, retryAt time.Time) error {
	v, err := encodeEntry(e)
	if err != nil {
		return err
	}
	octx, cancel := o.s.op(ctx)
	defer cancel()
	if err := outboxNack.Run(octx, o.s.rdb, []string{o.due, o.ent}, e.Event.ID, v, outboxScore(retryAt)).Err(); err != nil {
		return fail(ctx, "outbox nack", err)
	}
	return nil
}
