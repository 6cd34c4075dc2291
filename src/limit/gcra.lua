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
--          cut: when, and the rate it cut to), and `resumed` (when the lane was found lost). Times are microseconds since 2023-11-14 (1.7e9 s
--          after the Unix epoch), small enough to stay exact in a double.
-- ARGV[1]  op: "acquire", "refused" or "peek"
-- ARGV[2]  configured rate, requests per second
-- ARGV[3]  the longest wait the caller accepts, microseconds
-- ARGV[4]  now, microseconds on that scale, or "" to read Redis's own clock (TIME)
-- ARGV[5..8] adaptive DECREASE, RECOVERY, MIN_SHARE, WINDOW (seconds); ARGV[9] "1" when adaptive
-- KEYS[2]  the app's clients: a hash from each client's token to when its presence expires
--          (same hash tag as KEYS[1], so the same Cluster slot)
-- ARGV[10] this client's token, when it renews its presence with this call ("" otherwise)
-- ARGV[11] how long a presence lasts, microseconds
-- ARGV[12] the start must be at least this far from now, microseconds (this client's latest
--          start, or after an outage the fallback's next one, so that the lane resumes without a burst)
-- ARGV[13] the same, when the lane is gone (a restarted or flushed Redis): the client's latest
--          start plus its share of the gap, as the other clients' starts promised by the lost
--          lane fall up to that far after this client's own
--
-- Returns {granted (0/1), wait in microseconds, the rate in force as a string, clients present
-- (0 when this call did not count them), 1 when the lane was gone though the client had starts
-- pending (Redis lost its state), else 0}.

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
local token, presence_ttl = ARGV[10], tonumber(ARGV[11])
local not_before = tonumber(ARGV[12]) or 0
local lost_not_before = tonumber(ARGV[13]) or 0

-- Presence: renew ours, forget the expired, count the rest. A few fields (one per client).
local clients = 0
if token ~= '' and op == 'acquire' then
  redis.call('HSET', KEYS[2], token, now + presence_ttl)
  local all = redis.call('HGETALL', KEYS[2])
  for i = 1, #all, 2 do
    if tonumber(all[i + 1]) < now then
      redis.call('HDEL', KEYS[2], all[i])
    else
      clients = clients + 1
    end
  end
  redis.call('PEXPIRE', KEYS[2], math.ceil(presence_ttl / 1000) * 2)
end

local state = redis.call('HMGET', KEYS[1], 'last', 'cut', 'floor', 'resumed')
local last, cut, floor = tonumber(state[1]), tonumber(state[2]), tonumber(state[3])
-- When the lane was found gone while clients had starts pending (see `lost` below): for a
-- moment after it, refusals tell of the fleet's way back, not of a rate set too high.
local resumed = tonumber(state[4])

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
  local start = now + not_before
  local lost = 0
  if last then
    start = math.max(start, last + interval)
  else
    start = now + math.max(not_before, lost_not_before)
    if not_before > 0 then lost = 1 end
  end
  local wait = start - now
  if wait > max_wait then
    return {0, math.ceil(wait), tostring(rate), clients, lost}
  end
  redis.call('HSET', KEYS[1], 'last', start)
  if lost == 1 then redis.call('HSET', KEYS[1], 'resumed', now) end
  keep(math.max(start + interval, recovered_at()))
  return {1, math.ceil(wait), tostring(rate), clients, lost}
elseif op == 'refused' then
  if not adaptive or (cut and now - cut < window) or (resumed and now - resumed < 2 * window) then
    return {0, 0, tostring(rate), 0, 0}
  end
  floor = math.max(rate * decrease, configured * min_share)
  cut = now
  redis.call('HSET', KEYS[1], 'cut', cut, 'floor', floor)
  keep(math.max(last or now, recovered_at()))
  return {1, 0, tostring(floor), 0, 0}
end
return {1, 0, tostring(rate), 0, 0}
