"""``RedisRateLimiter``: the access limiting rule shared by every process and replica via Redis.

Check-and-count is ONE Lua script (run with EVALSHA, falling back to EVAL when the server has
not cached it yet: ``NOSCRIPT`` after a restart or ``SCRIPT FLUSH``), so it is atomic across
processes and replicas: Redis runs a script to completion before any other command. The script
is the same rule as ``shoal.access.limiter`` (refill, check bucket and quotas, take a token and
count only if allowed; a refusal waits for the slowest limit that refused it).

Keys, for subject S under ``prefix``: ``{S}`` is a hash tag so a cluster keeps all three in one
slot, which a script touching them needs.

- ``<prefix>{S}:bucket``: a hash of tokens and the time they were computed for (whole
  microseconds since the epoch, exact in a Lua double until 2255); it expires once
  the bucket would be full again (plus a margin), since a missing bucket *is* a full one.
- ``<prefix>{S}:day:YYYY-MM-DD`` and ``<prefix>{S}:month:YYYY-MM``: counters named by their UTC
  window, expiring a grace period after the window ends. Correctness never rests on expiry: a
  new window is a new key; expiry only collects old ones.

Time comes from the caller (``now``), not from Redis ``TIME``: tests control it, and the Python
and Lua implementations run the same arithmetic on the same inputs. Replicas must keep their
clocks in step (NTP); a skew of d seconds can move at most d seconds of refill, and near
midnight can file a request in a neighbouring day. A bucket never goes back in time: a caller
behind the last writer refills nothing. TTLs are relative (EXPIRE, not EXPIREAT) so a caller's
clock cannot make a key expire at once.
"""

from __future__ import annotations

import hashlib
from typing import Any

import redis
from redis.exceptions import NoScriptError, RedisError

from shoal.access.limiter import usage_of, whole_tokens
from shoal.access.records import Decision, LimitReason, Usage, UsagePlan
from shoal.access.windows import QuotaWindows, windows_at
from shoal.errors import StorageError
from shoal.storage.engine import mask_url

ACQUIRE_SCRIPT = """
local now = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local day_limit = tonumber(ARGV[4])
local month_limit = tonumber(ARGV[5])
local day_left = tonumber(ARGV[6])
local month_left = tonumber(ARGV[7])
local grace = tonumber(ARGV[8])
local bucket_margin = tonumber(ARGV[9])
local eps = 1e-9

local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local last = tonumber(state[2])
if tokens == nil or last == nil then
  tokens = burst
  last = now
end
if now > last then
  tokens = math.min(burst, tokens + (now - last) * rate / 1e6)
  last = now
else
  tokens = math.min(burst, tokens)
end
local day_used = tonumber(redis.call('GET', KEYS[2]) or '0')
local month_used = tonumber(redis.call('GET', KEYS[3]) or '0')

local wait = -1
local reason = ''
if tokens < 1 - eps then
  wait = (1 - tokens) / rate
  reason = 'rate'
end
if day_limit >= 0 and day_used >= day_limit and day_left > wait then
  wait = day_left
  reason = 'quota_per_day'
end
if month_limit >= 0 and month_used >= month_limit and month_left > wait then
  wait = month_left
  reason = 'quota_per_month'
end
if reason ~= '' then
  return {0, string.format('%.17g', wait), string.format('%.17g', tokens), reason}
end

tokens = tokens - 1
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
           'ts', string.format('%.17g', last))
redis.call('PEXPIRE', KEYS[1], math.ceil(((burst - tokens) / rate + bucket_margin) * 1000))
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], math.ceil(day_left + grace))
redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], math.ceil(month_left + grace))
return {1, '0', string.format('%.17g', tokens), ''}
"""

ACQUIRE_SHA = hashlib.sha1(ACQUIRE_SCRIPT.encode(), usedforsecurity=False).hexdigest()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisRateLimiter:
    """A ``RateLimiter`` whose state lives in Redis, exact across processes and replicas.

    ``grace_s`` keeps a quota counter that long after its window ends (clock skew, late
    reads of usage); ``bucket_margin_s`` keeps a bucket that long after it would be full.
    """

    def __init__(
        self,
        client: redis.Redis,
        prefix: str = "shoal:limits:",
        *,
        grace_s: float = 3600.0,
        bucket_margin_s: float = 60.0,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._grace_s = grace_s
        self._bucket_margin_s = bucket_margin_s

    @classmethod
    def from_url(cls, url: str, prefix: str = "shoal:limits:") -> RedisRateLimiter:
        """A limiter on the Redis at ``redis://host:port/db`` (connects on first use)."""
        try:
            client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        except (ValueError, RedisError) as exc:
            raise StorageError(f"invalid Redis URL {mask_url(url)}: {exc}") from exc
        return cls(client, prefix)

    def keys(self, subject: str, windows: QuotaWindows) -> tuple[str, str, str]:
        """The bucket, day-counter and month-counter keys of ``subject`` in these windows."""
        base = f"{self._prefix}{{{subject}}}"
        return (
            f"{base}:bucket",
            f"{base}:day:{windows.day_id}",
            f"{base}:month:{windows.month_id}",
        )

    def acquire(self, subject: str, plan: UsagePlan, now_us: int) -> Decision:
        windows = windows_at(now_us)
        args = (
            str(windows.now_us),
            repr(float(plan.rate_per_s)),
            str(plan.burst),
            str(-1 if plan.quota_per_day is None else plan.quota_per_day),
            str(-1 if plan.quota_per_month is None else plan.quota_per_month),
            repr(windows.day_left_s),
            repr(windows.month_left_s),
            repr(float(self._grace_s)),
            repr(float(self._bucket_margin_s)),
        )
        allowed, wait, tokens, reason = self._run(self.keys(subject, windows), args)
        if int(allowed) == 1:
            return Decision(True, 0.0, whole_tokens(float(_text(tokens))), None)
        return Decision(
            False,
            float(_text(wait)),
            whole_tokens(float(_text(tokens))),
            LimitReason(_text(reason)),
        )

    def usage(self, subject: str, plan: UsagePlan, now_us: int) -> list[Usage]:
        windows = windows_at(now_us)
        _, day_key, month_key = self.keys(subject, windows)
        try:
            day, month = self._client.mget([day_key, month_key])
        except RedisError as exc:
            raise self._failed(exc) from exc
        return usage_of(
            subject,
            plan,
            windows,
            0 if day is None else int(_text(day)),
            0 if month is None else int(_text(month)),
        )

    def close(self) -> None:
        self._client.close()

    def _run(self, keys: tuple[str, str, str], args: tuple[str, ...]) -> list[Any]:
        try:
            try:
                result = self._client.evalsha(ACQUIRE_SHA, len(keys), *keys, *args)
            except NoScriptError:
                # EVAL runs the script and caches it, so the next EVALSHA finds it.
                result = self._client.eval(ACQUIRE_SCRIPT, len(keys), *keys, *args)
        except RedisError as exc:
            raise self._failed(exc) from exc
        return list(result)

    def _failed(self, exc: RedisError) -> StorageError:
        kwargs = self._client.connection_pool.connection_kwargs
        where = f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"
        return StorageError(f"Redis at {where} failed: {exc}")
