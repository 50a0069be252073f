//! The Lua scripts of the Redis queue: one per transition, each atomic and one round trip.
//!
//! Every script gets the queue's six fixed keys as `KEYS[1..6]` (the stream, the pending,
//! running, delayed and done sorted sets, the dead-letter stream; see [`Keys`](super::Keys)),
//! plus the job's hash as `KEYS[7]` where the script is about one job. A script that reaches a
//! job from a stream entry builds its hash's name from `KEYS[1]`: the same hash tag, so the
//! same cluster slot. `ARGV[1]` is always the time in microseconds since the epoch, or `-1`
//! for the Redis server's own `TIME`.

use std::sync::LazyLock;

use redis::Script;

/// The helpers every script starts with.
const PRELUDE: &str = r"
local S, PENDING, RUNNING, DELAYED, DONE, DEAD = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local GROUP = 'workers'
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function int(n) return string.format('%d', n) end
local function jobkey(skey) return string.sub(S, 1, -2) .. 'j:' .. skey end
-- A pending job back on the stream, due at once, counted pending.
local function push(skey, jk)
  if redis.call('EXISTS', S) == 0 then
    redis.call('XGROUP', 'CREATE', S, GROUP, '0', 'MKSTREAM')
  end
  local id = redis.call('XADD', S, '*', 'k', skey)
  redis.call('HSET', jk, 'state', 'pending', 'next', int(now), 'h', id)
  redis.call('ZADD', PENDING, redis.call('HGET', jk, 'rms'), skey)
end
-- The stream entry of a running job acknowledged and removed, its lease dropped.
local function settle(skey, jk, id)
  if id then
    redis.call('XACK', S, GROUP, id)
    redis.call('XDEL', S, id)
  end
  redis.call('ZREM', RUNNING, skey)
  redis.call('HDEL', jk, 'token', 'h')
end
local RECORD = {'wid', 'key', 'type', 'ts', 'recv', 'body', 'hdrs', 'att', 'err', 'next'}
";

fn script(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}{body}"))
}

/// Enqueue: the job's state when its key has one (a done job past its retention counts as
/// none and is replaced), else the job stored and added to the stream: `enqueued`.
/// `ARGV`: now, storage key, webhook id, key, timestamp, received at (ns), received at (µs,
/// the pending score), body, headers, has a type (`1`/`0`), type.
pub(super) static ENQUEUE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local jk, skey = KEYS[7], ARGV[2]
local held = redis.call('HMGET', jk, 'state', 'keep')
if held[1] then
  if held[1] ~= 'done' or tonumber(held[2]) > now then
    return held[1]
  end
  redis.call('ZREM', DONE, skey)
  redis.call('DEL', jk)
end
redis.call('HSET', jk, 'wid', ARGV[3], 'key', ARGV[4], 'ts', ARGV[5], 'recv', ARGV[6],
  'rms', ARGV[7], 'body', ARGV[8], 'hdrs', ARGV[9], 'att', '0')
if ARGV[10] == '1' then
  redis.call('HSET', jk, 'type', ARGV[11])
end
push(skey, jk)
return 'enqueued'
",
    )
});

/// Take: due retries moved back to the stream, then up to `max` jobs, the ones whose lease
/// ran out first (taken over: their stream entry claimed by this consumer), then new entries
/// read by the group, each under a new token and lease, its attempt counted. Answers the jobs
/// as `{token, entry id, record fields..}`, and when none was found, the stream's last id (to
/// block on) and the microseconds until the next retry or lease end (`-1`: none).
/// `ARGV`: now, consumer, max, lease (µs), token prefix (28 hex digits).
pub(super) static TAKE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local consumer, max, lease, prefix = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local due = redis.call('ZRANGEBYSCORE', DELAYED, '-inf', int(now), 'LIMIT', 0, 1000)
for _, skey in ipairs(due) do
  redis.call('ZREM', DELAYED, skey)
  local jk = jobkey(skey)
  if redis.call('HGET', jk, 'state') == 'pending' then push(skey, jk) end
end
local out, n, lease_end = {}, 0, int(now + lease)
local function start(skey, jk, id)
  n = n + 1
  local token = prefix .. string.format('%04x', n)
  redis.call('HINCRBY', jk, 'att', 1)
  redis.call('HSET', jk, 'state', 'running', 'token', token, 'next', lease_end, 'h', id)
  redis.call('ZREM', PENDING, skey)
  redis.call('ZADD', RUNNING, lease_end, skey)
  local job = {token, id}
  local record = redis.call('HMGET', jk, unpack(RECORD))
  for i = 1, #RECORD do job[i + 2] = record[i] end
  out[n] = job
end
local lapsed = redis.call('ZRANGEBYSCORE', RUNNING, '-inf', int(now), 'LIMIT', 0, max)
for _, skey in ipairs(lapsed) do
  local jk = jobkey(skey)
  local held = redis.call('HMGET', jk, 'state', 'h')
  if held[1] == 'running' and held[2] then
    redis.call('XCLAIM', S, GROUP, consumer, 0, held[2], 'JUSTID')
    start(skey, jk, held[2])
  else
    redis.call('ZREM', RUNNING, skey)
  end
end
if n < max and redis.call('EXISTS', S) == 1 then
  local read = redis.call('XREADGROUP', 'GROUP', GROUP, consumer, 'COUNT', max - n, 'STREAMS', S, '>')
  if read then
    for _, entry in ipairs(read[1][2]) do
      local id, skey = entry[1], entry[2][2]
      local jk = jobkey(skey)
      local held = redis.call('HMGET', jk, 'state', 'h')
      if held[1] == 'pending' and held[2] == id then
        start(skey, jk, id)
      else
        redis.call('XACK', S, GROUP, id)
        redis.call('XDEL', S, id)
      end
    end
  end
end
if n > 0 then return {out} end
local last = '0-0'
if redis.call('EXISTS', S) == 1 then
  local info = redis.call('XINFO', 'STREAM', S)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then last = info[i + 1] end
  end
end
local wake = -1
for _, set in ipairs({DELAYED, RUNNING}) do
  local first = redis.call('ZRANGE', set, 0, 0, 'WITHSCORES')
  if first[2] then
    local left = math.max(tonumber(first[2]) - now, 0)
    if wake < 0 or left < wake then wake = left end
  end
end
return {out, last, int(wake)}
",
    )
});

/// Renew: the lease of the job extended to now + lease when its token holds it (1), else 0.
/// The stream entry's idle time reset too, for `XPENDING`'s readers.
/// `ARGV`: now, token, lease (µs), storage key, consumer.
pub(super) static RENEW: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local jk = KEYS[7]
local held = redis.call('HMGET', jk, 'state', 'token', 'h')
if held[1] ~= 'running' or held[2] ~= ARGV[2] then return 0 end
local lease_end = int(now + tonumber(ARGV[3]))
redis.call('HSET', jk, 'next', lease_end)
redis.call('ZADD', RUNNING, lease_end, ARGV[4])
redis.call('XCLAIM', S, GROUP, ARGV[5], 0, held[3], 'JUSTID')
return 1
",
    )
});

/// Complete: the job done until now + retention, its entry acknowledged (1); 1 again when it
/// is already done under this token; 0 when the token does not hold it. A done job keeps its
/// state, token and retention end, not its body.
/// `ARGV`: now, token, retention (µs), storage key.
pub(super) static COMPLETE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local jk, skey = KEYS[7], ARGV[4]
local held = redis.call('HMGET', jk, 'state', 'token', 'h')
if held[2] ~= ARGV[2] then return 0 end
if held[1] == 'done' then return 1 end
if held[1] ~= 'running' then return 0 end
settle(skey, jk, held[3])
local keep = int(now + tonumber(ARGV[3]))
redis.call('HSET', jk, 'state', 'done', 'keep', keep, 'token', ARGV[2])
redis.call('HDEL', jk, 'body', 'hdrs')
redis.call('ZADD', DONE, keep, skey)
return 1
",
    )
});

/// Fail: the error kept; the job pending again at now + retry (a retry in the delayed set) or,
/// for a retry of `-1`, dead (on the dead-letter stream). 0 when the token does not hold it.
/// `ARGV`: now, token, storage key, error, retry (µs, or -1).
pub(super) static FAIL: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local jk, skey = KEYS[7], ARGV[3]
local held = redis.call('HMGET', jk, 'state', 'token', 'h', 'rms', 'att')
if held[1] ~= 'running' or held[2] ~= ARGV[2] then return 0 end
settle(skey, jk, held[3])
local retry = tonumber(ARGV[5])
if retry >= 0 then
  local due = int(now + retry)
  redis.call('HSET', jk, 'state', 'pending', 'next', due, 'err', ARGV[4])
  redis.call('ZADD', DELAYED, due, skey)
  redis.call('ZADD', PENDING, held[4], skey)
else
  local dl = redis.call('XADD', DEAD, '*', 'k', skey, 'err', ARGV[4], 'att', held[5])
  redis.call('HSET', jk, 'state', 'dead', 'next', int(now), 'err', ARGV[4], 'dl', dl)
end
return 1
",
    )
});

/// Release: the job pending and due at once, at the stream's end, its attempt not counted.
/// 0 when the token does not hold it. `ARGV`: now, token, storage key.
pub(super) static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local jk, skey = KEYS[7], ARGV[3]
local held = redis.call('HMGET', jk, 'state', 'token', 'h')
if held[1] ~= 'running' or held[2] ~= ARGV[2] then return 0 end
settle(skey, jk, held[3])
redis.call('HINCRBY', jk, 'att', -1)
push(skey, jk)
return 1
",
    )
});

/// The redrive of one job: dead -> pending with no attempt made (1), else 0.
const REDRIVE_ONE: &str = r"
local function redrive(skey, jk)
  local held = redis.call('HMGET', jk, 'state', 'dl')
  if held[1] ~= 'dead' then return 0 end
  if held[2] then redis.call('XDEL', DEAD, held[2]) end
  redis.call('HDEL', jk, 'dl')
  redis.call('HSET', jk, 'att', '0')
  push(skey, jk)
  return 1
end
";

/// Redrive of one key: 1 when it was dead and is pending again, else 0.
/// `ARGV`: now, storage key.
pub(super) static REDRIVE_KEY: LazyLock<Script> = LazyLock::new(|| {
    script(&format!(
        "{REDRIVE_ONE}\nreturn redrive(ARGV[2], KEYS[7])\n"
    ))
});

/// Redrive of the oldest `batch` entries of the dead-letter stream: `{redriven, entries
/// read}` (fewer read than `batch`: none left). `ARGV`: now, batch.
pub(super) static REDRIVE_ALL: LazyLock<Script> = LazyLock::new(|| {
    script(&format!(
        "{REDRIVE_ONE}
local entries = redis.call('XRANGE', DEAD, '-', '+', 'COUNT', tonumber(ARGV[2]))
local count = 0
for _, entry in ipairs(entries) do
  count = count + redrive(entry[2][2], jobkey(entry[2][2]))
  redis.call('XDEL', DEAD, entry[1])
end
return {{count, #entries}}
"
    ))
});

/// The most recently dead `limit` jobs, newest first, each as its record fields.
/// `ARGV`: now, limit.
pub(super) static DEAD_JOBS: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local out = {}
local entries = redis.call('XREVRANGE', DEAD, '+', '-', 'COUNT', tonumber(ARGV[2]))
for _, entry in ipairs(entries) do
  local jk = jobkey(entry[2][2])
  local held = redis.call('HMGET', jk, 'state', 'dl')
  if held[1] == 'dead' and held[2] == entry[1] then
    out[#out + 1] = redis.call('HMGET', jk, unpack(RECORD))
  end
end
return out
",
    )
});

/// `{pending, running, dead, done within retention, oldest pending age (µs, -1: none)}`.
/// `ARGV`: now.
pub(super) static STATS: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local dead = 0
if redis.call('EXISTS', DEAD) == 1 then dead = redis.call('XLEN', DEAD) end
local oldest = redis.call('ZRANGE', PENDING, 0, 0, 'WITHSCORES')
local age = -1
if oldest[2] then age = math.max(now - tonumber(oldest[2]), 0) end
return {redis.call('ZCARD', PENDING), redis.call('ZCARD', RUNNING), dead,
  redis.call('ZCOUNT', DONE, '(' .. int(now), '+inf'), int(age)}
",
    )
});

/// Removes up to `batch` done jobs whose retention is over: `{removed, found}`.
/// `ARGV`: now, batch.
pub(super) static PURGE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local over = redis.call('ZRANGEBYSCORE', DONE, '-inf', int(now), 'LIMIT', 0, tonumber(ARGV[2]))
local removed = 0
for _, skey in ipairs(over) do
  local jk = jobkey(skey)
  redis.call('ZREM', DONE, skey)
  if redis.call('HGET', jk, 'state') == 'done' then
    redis.call('DEL', jk)
    removed = removed + 1
  end
end
return {removed, #over}
",
    )
});
