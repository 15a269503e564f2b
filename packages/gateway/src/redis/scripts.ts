/**
 * The limit plugins' window updates as Redis scripts: each reads and writes one key in one
 * atomic step, so concurrent requests from any number of nodes never decide on the same stale
 * state, and one key per script keeps them valid on Redis Cluster. Time comes from Redis
 * (TIME) where a script needs it, so nodes with skewed clocks still share one timeline.
 */
export const LIMIT_SCRIPTS = {
  /**
   * limit-count, fixed window (APISIX's limit-count commit script): the first request of a
   * window creates the counter with the window as its expiry; later ones add their cost.
   * KEYS[1] counter; ARGV: limit, window (ms), cost. Returns {used, ms until reset}; the
   * request is over the limit when used > limit.
   */
  porticoCount: {
    numberOfKeys: 1,
    lua: `
local ttl = redis.call('pttl', KEYS[1])
if ttl < 0 then
  redis.call('set', KEYS[1], ARGV[3], 'PX', ARGV[2])
  return {tonumber(ARGV[3]), tonumber(ARGV[2])}
end
return {redis.call('incrby', KEYS[1], ARGV[3]), ttl}
`,
  },

  /**
   * limit-req, leaky bucket (APISIX 3.x's limit-req commit script, resty.limit.req's
   * arithmetic): excess drains at `rate` per second; a request adds one; over `burst` it is
   * rejected and not recorded. The first request of a key starts at excess 0.
   * KEYS[1] state hash {excess, last}; ARGV: rate (per s), burst. Returns {1 admitted | 0
   * rejected, excess as a string (a Lua number reply would lose its fraction)}.
   */
  porticoReq: {
    numberOfKeys: 1,
    lua: `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local s = redis.call('HMGET', KEYS[1], 'excess', 'last')
local excess = 0
if s[1] and s[2] then
  excess = math.max(tonumber(s[1]) - rate * math.abs(now - tonumber(s[2])) / 1000 + 1, 0)
  if excess > burst then
    return {0, tostring(excess)}
  end
end
redis.call('HSET', KEYS[1], 'excess', string.format('%.6f', excess), 'last', string.format('%.3f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst + 1) / rate * 1000) + 1000)
return {1, tostring(excess)}
`,
  },

  /**
   * limit-conn (APISIX's limit-conn redis script): the requests in flight for a key are the
   * members of a sorted set scored by when they stop counting (now + ttl), so a node that dies
   * mid-request stops holding its slots after ttl. KEYS[1] set; ARGV: conn + burst, ttl (s),
   * request id. Returns {1 admitted | 0 rejected, requests in flight including this one}.
   */
  porticoConnAcquire: {
    numberOfKeys: 1,
    lua: `
local now = tonumber(redis.call('TIME')[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local count = redis.call('ZCARD', KEYS[1])
if count >= tonumber(ARGV[1]) then
  return {0, count}
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return {1, count + 1}
`,
  },
} as const;
