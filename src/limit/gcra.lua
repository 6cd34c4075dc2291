-- timrest's shared rate limiter: one lane (one app's quota for one command) per key.
--
-- The same meaning as the local pacer (src/limit/local.rs): a caller *reserves* the next start,
-- at least one interval after the previous reservation, and sleeps until it; nobody polls. A
-- reservation that would start later than the caller can wait is refused and takes nothing.
-- On top, the adaptive rule of src/limit/adaptive.rs, with its constants passed in ARGV, so that
-- Rust holds them once: a rate-limit answer from the server cuts the lane's rate (at most once
-- per window), and the rate then grows back additively to the configured one.
--
-- KEYS[1]  the lane: a hash with `last` (the latest reserved start), `cut` and `floor` (the last
--          cut: when, and the rate it cut to). Times are microseconds since 2023-11-14 (1.7e9 s
--          after the Unix epoch), small enough to stay exact in a double.
-- ARGV[1]  op: "acquire", "refused" or "peek"
-- ARGV[2]  configured rate, requests per second
-- ARGV[3]  the longest wait the caller accepts, microseconds
-- ARGV[4]  now, microseconds on that scale, or "" to read Redis's own clock (TIME)
-- ARGV[5..8] adaptive DECREASE, RECOVERY, MIN_SHARE, WINDOW (seconds); ARGV[9] "1" when adaptive
--
-- Returns {granted (0/1), wait in microseconds, the rate in force as a string}.

local op = ARGV[1]
local configured = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
if not now then
  local t = redis.call('TIME')
  now = (tonumber(t[1]) - 1700000000) * 1000000 + tonumber(t[2])
end
local decrease, recovery = tonumber(ARGV[5]), tonumber(ARGV[6])
local min_share, window = tonumber(ARGV[7]), tonumber(ARGV[8]) * 1000000
local adaptive = ARGV[9] == '1'

local state = redis.call('HMGET', KEYS[1], 'last', 'cut', 'floor')
local last, cut, floor = tonumber(state[1]), tonumber(state[2]), tonumber(state[3])

local rate = configured
if adaptive and cut and floor then
  rate = math.min(configured, floor + configured * recovery * math.max(0, now - cut) / 1000000)
end

-- Idle keys vanish once nothing in them matters: the last reservation and the recovery are over.
local function keep(until_us)
  redis.call('PEXPIRE', KEYS[1], math.max(1000, math.ceil((until_us - now) / 1000) + 1000))
end
local function recovered_at()
  if cut and floor then
    return cut + (configured - floor) / (configured * recovery) * 1000000
  end
  return now
end

if op == 'acquire' then
  -- At most floor(rate) starts in any second: one every 1/floor(rate) s (1/rate below 1/s).
  local limit = math.max(1, math.floor(rate))
  local interval = math.ceil(math.max(1, limit / rate) / limit * 1000000)
  local start = now
  if last then start = math.max(now, last + interval) end
  local wait = start - now
  if wait > max_wait then
    return {0, math.ceil(wait), tostring(rate)}
  end
  redis.call('HSET', KEYS[1], 'last', start)
  keep(math.max(start + interval, recovered_at()))
  return {1, math.ceil(wait), tostring(rate)}
elseif op == 'refused' then
  if not adaptive or (cut and now - cut < window) then
    return {0, 0, tostring(rate)}
  end
  floor = math.max(rate * decrease, configured * min_share)
  cut = now
  redis.call('HSET', KEYS[1], 'cut', cut, 'floor', floor)
  keep(math.max(last or now, recovered_at()))
  return {1, 0, tostring(floor)}
end
return {1, 0, tostring(rate)}
