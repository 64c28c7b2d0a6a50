package redisstore

import (
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Key layout, for a prefix P (default "onbehalf:"), with the project, user
// and integration escaped (see escape) and the connection id raw:
//
//	P{project:user}:c:integration:id   hash: one connection
//	    v  version (integer)
//	    m  its member in the index
//	    c  CreatedAt, RFC 3339 UTC with nanoseconds
//	    u  UpdatedAt, likewise
//	    d  JSON of {credential, fields, status, reason, refreshing}
//	P{project:user}:idx                sorted set: the user's connections
//	P lock:<key>                        string: a Locker lease, value the holder's token
//	P{due}:due                         sorted set: tokens.DueIndex.Due, every active
//	                                    connection with an expiring token, scored by
//	                                    Credential.Expiry in Unix microseconds
//	P{due}:idle:integration            sorted set: tokens.DueIndex.Idle, an integration's
//	                                    active connections, scored by their last refresh
//	P{due}:verify:integration          sorted set: tokens.VerifyIndex, an integration's
//	                                    active connections, scored by tokens.VerifySchedule
//
// A member of the due sets is project NUL user NUL integration NUL id. The
// Save and Delete scripts update them with the connection, atomically. On
// Redis Cluster they live in their own slot ({due}), which a script cannot
// touch with a user's keys: there the Store writes them with a second
// command right after the script, and a crash in between leaves an entry
// stale until the connection's next Save (a KeepAlive reads the connection
// and finds it not due, or gone).
//
// The index holds every connection of one (project, user) with score 0, so
// Redis orders its members by their bytes. A member is
//
//	integration NUL created id
//
// with created a fixed-width encoding of CreatedAt that sorts like the time.
// Byte order of members is therefore the order of List (Integration, then
// CreatedAt, then ID), and the first member in the range of one integration
// names its default connection (the earliest created, ties to the smaller
// id). One sorted set serves both lookups.
//
// The part in braces is a Redis Cluster hash tag: all keys of one user live in
// one slot, so the scripts that touch a connection and the index (and the
// default lookup, which reads a connection named by the index) run on one
// node.

// createdLen is the length of the encoded CreatedAt in an index member.
const createdLen = 24

// escape makes s safe inside a key: '%', ':', '{' and '}' become %XX, so the
// separators and the hash tag stay unambiguous.
func escape(s string) string {
	if !strings.ContainsAny(s, "%:{}") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '%', ':', '{', '}':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// userBase returns "P{project:user}:".
func (s *Store) userBase(project, user string) string {
	return s.prefix + "{" + escape(project) + ":" + escape(user) + "}:"
}

// indexKey returns the key of a user's index.
func (s *Store) indexKey(project, user string) string { return s.userBase(project, user) + "idx" }

// connPrefix returns the key of a connection of integration without its id.
func (s *Store) connPrefix(project, user, integration string) string {
	return s.userBase(project, user) + "c:" + escape(integration) + ":"
}

// lockKey returns the key of a lease.
func (s *Store) lockKey(key string) string { return s.prefix + "lock:" + key }

// encodeCreated encodes t in createdLen hex digits that sort like the time:
// the Unix seconds with the sign bit flipped, then the nanoseconds.
func encodeCreated(t time.Time) string {
	return fmt.Sprintf("%016x%08x", uint64(t.Unix())^(1<<63), t.Nanosecond())
}

// member returns the index member of a connection.
func member(integration string, created time.Time, id string) string {
	return integration + "\x00" + encodeCreated(created) + id
}

// memberParts splits an index member into its integration and id.
func memberParts(m string) (integration, id string, ok bool) {
	integration, rest, ok := strings.Cut(m, "\x00")
	if !ok || len(rest) < createdLen {
		return "", "", false
	}
	return integration, rest[createdLen:], true
}

// Scripts. Each runs atomically in Redis; their keys share one hash slot.
var (
	// getDefault: KEYS[1] index; ARGV[1], ARGV[2] the lex range of one
	// integration; ARGV[3] the connection key without its id; ARGV[4] the
	// length of a member's integration and created parts. Returns nil or
	// {id, v, c, u, d}.
	getDefault = redis.NewScript(`
local m = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', 0, 1)[1]
if not m then return nil end
local id = string.sub(m, tonumber(ARGV[4]) + 1)
local h = redis.call('HMGET', ARGV[3] .. id, 'v', 'c', 'u', 'd')
if not h[1] then return nil end
return {id, h[1], h[2], h[3], h[4]}
`)

	// create: KEYS[1] connection, KEYS[2] index, KEYS[3] to KEYS[5] (when
	// given) the due, idle and verify sets; ARGV member, created, updated,
	// data, due score, idle score, verify score ("" for none), due member.
	// Returns 1, or 0 when the connection exists.
	create = redis.NewScript(dueIndexLua + `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', 1, 'm', ARGV[1], 'c', ARGV[2], 'u', ARGV[3], 'd', ARGV[4])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
index(KEYS[3], KEYS[4], KEYS[5], ARGV[5], ARGV[6], ARGV[7], ARGV[8])
return 1
`)

	// update: KEYS[1] connection; ARGV expected version, updated, data.
	// Returns {0} when the connection is gone, {1, v} on a version
	// mismatch, {2, new version, created} on success.
	// KEYS[2] to KEYS[4], ARGV[4] to ARGV[7]: the due sets, as create's.
	update = redis.NewScript(dueIndexLua + `
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return {0} end
if v ~= ARGV[1] then return {1, v} end
local nv = redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('HSET', KEYS[1], 'u', ARGV[2], 'd', ARGV[3])
index(KEYS[2], KEYS[3], KEYS[4], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
return {2, nv, redis.call('HGET', KEYS[1], 'c')}
`)

	// remove: KEYS[1] connection, KEYS[2] index. Returns 1, or 0 when the
	// connection is gone.
	// KEYS[3] to KEYS[5], ARGV[1] to ARGV[4]: the due sets, as create's.
	remove = redis.NewScript(dueIndexLua + `
local m = redis.call('HGET', KEYS[1], 'm')
if not m then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], m)
index(KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
return 1
`)

	// release: KEYS[1] lease; ARGV[1] holder token. Deletes the lease only
	// if this holder has it. Returns 1 or 0.
	release = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

	// extend: KEYS[1] lease; ARGV[1] holder token, ARGV[2] ttl in ms.
	// Returns 1 or 0.
	extend = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`)
)

// dueIndexLua defines index(due, idle, verify, dueScore, idleScore,
// verifyScore, member): it sets or (for an empty score) removes member in the
// due, idle and verify sets, when their keys are given.
const dueIndexLua = `
local function index(due, idle, verify, ds, is, vs, m)
  if due then
    if ds == '' then redis.call('ZREM', due, m) else redis.call('ZADD', due, ds, m) end
  end
  if idle then
    if is == '' then redis.call('ZREM', idle, m) else redis.call('ZADD', idle, is, m) end
  end
  if verify then
    if vs == '' then redis.call('ZREM', verify, m) else redis.call('ZADD', verify, vs, m) end
  end
end
`
