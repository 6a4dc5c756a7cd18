"""Shared budgets in Redis, for consumers on several machines (``redis://host:port/db``).

Each step is one Lua script, which Redis runs atomically: it reads the budget's three times
(a hash), books on Redis's own clock (``TIME``, so consumers whose clocks disagree still
agree on the slots) with the same arithmetic as ``gcra.book``, and writes the times back.
A budget's hash expires a minute after its last booked time: past then it means nothing.
Times travel as strings: a number a script returns reaches the client cut to an integer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl, urlsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from comicocr.errors import ConfigError
from comicocr.ratelimit.gcra import Rates
from comicocr.ratelimit.shared import Booking, RateStoreDown
from comicocr.redact import register_secret

KEY_PREFIX = "comicocr:vlm-budget:"
_TIMEOUT_S = 2.0  # a store that does not answer within this is down, for this booking

# Shared by the three scripts: the clock and the budget's state (absent fields: 0, the past).
_STATE = """
if redis.replicate_commands then redis.replicate_commands() end  -- TIME before writes (Redis < 5)
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local s = redis.call('HMGET', KEYS[1], 'next_request', 'next_tokens', 'resume_at')
local next_request, next_tokens, resume_at = tonumber(s[1]) or 0, tonumber(s[2]) or 0, tonumber(s[3]) or 0
local function f(x) return string.format('%.6f', x) end
local function save()
  redis.call('HSET', KEYS[1], 'next_request', f(next_request), 'next_tokens', f(next_tokens),
             'resume_at', f(resume_at))
  local last = math.max(next_request, next_tokens, resume_at)
  redis.call('PEXPIRE', KEYS[1], string.format('%d', math.ceil((math.max(last - now, 0) + 60) * 1000)))
end
"""
# ARGV: seconds between requests, tokens per second (0: none), the request's tokens, lead (s).
_BOOK = (
    _STATE
    + """
local interval, tokens_per_s = tonumber(ARGV[1]), tonumber(ARGV[2])
local tokens, lead = tonumber(ARGV[3]), tonumber(ARGV[4])
local at = math.max(now + lead, next_request, next_tokens, resume_at)
if tokens_per_s > 0 then next_tokens = math.max(at, next_tokens) + tokens / tokens_per_s end
next_request = at + interval
save()
return {f(at), f(now)}
"""
)
_BACKLOG = _STATE + "return f(math.max(0, next_request - now, resume_at - now))\n"
# ARGV: seconds to hold every booking back.
_PAUSE = _STATE + "resume_at = math.max(resume_at, now + tonumber(ARGV[1]))\nsave()\nreturn f(resume_at)\n"


def shown(address: str) -> str:
    """The address for messages: scheme, host, port and database only. No user, no password,
    and no query (redis-py also reads ``?password=``). Never raises: a malformed address is
    shown as its scheme alone."""
    try:
        parts = urlsplit(address)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:  # a port that is no number, a broken [IPv6]
        return address.partition("://")[0][:20] + "://..."
    return parts._replace(netloc=netloc, query="", fragment="").geturl()


def _secrets_of(address: str) -> list[str]:
    """What a reply or an error might quote of the address: its password, wherever it is."""
    try:
        parts = urlsplit(address)
        found = [parts.password or ""]
    except ValueError:
        return [address]  # unreadable: treat it whole as secret
    found += [v for k, v in parse_qsl(parts.query) if k.lower() in ("password", "username", "user")]
    return [s for s in found if s]


class RedisBudgetStore:
    def __init__(self, address: str) -> None:
        self.address = shown(address)
        for secret in _secrets_of(address):  # should a reply ever quote it
            register_secret(secret)
        try:
            urlsplit(address).port  # noqa: B018 - a port that is no number raises here, not at connect
            self._redis = redis.Redis.from_url(
                address,
                socket_timeout=_TIMEOUT_S,
                socket_connect_timeout=_TIMEOUT_S,
                # Once more after a dropped connection (Redis restarted): the pool's old sockets
                # are dead. A booking answered but lost on the way is booked twice: a slot wasted.
                retry=Retry(ExponentialBackoff(cap=0.5, base=0.1), 2),
                client_name="comicocr-vlm-pacer",
            )
        except ValueError:  # an address redis-py cannot read (its text may quote the password)
            raise ConfigError(
                f"VLM rate store {self.address!r} is not a redis URL: use redis://[:PASSWORD@]HOST:PORT/DB"
            ) from None
        self._book = self._redis.register_script(_BOOK)
        self._backlog = self._redis.register_script(_BACKLOG)
        self._pause = self._redis.register_script(_PAUSE)

    def book(self, budget: str, rates: Rates, tokens: int, lead_s: float) -> Booking:
        args = (repr(rates.request_interval), repr(rates.tokens_per_s), tokens, repr(lead_s))
        with self._answering():
            at, now = self._book(keys=[KEY_PREFIX + budget], args=args)
        return Booking(float(at), float(now))

    def backlog_s(self, budget: str) -> float:
        with self._answering():
            return float(self._backlog(keys=[KEY_PREFIX + budget]))

    def pause(self, budget: str, seconds: float) -> None:
        with self._answering():
            self._pause(keys=[KEY_PREFIX + budget], args=[repr(float(seconds))])

    def ping(self) -> None:
        with self._answering():
            self._redis.ping()

    def close(self) -> None:
        self._redis.close()

    @contextmanager
    def _answering(self) -> Iterator[None]:
        # Script objects load themselves again (EVALSHA, then EVAL) after a Redis restart.
        try:
            yield
        except redis.RedisError as exc:
            raise RateStoreDown(f"VLM rate store {self.address} did not answer: {_why(exc)}") from None


def _why(exc: redis.RedisError) -> str:
    """The error's class and first line: redis-py's texts name hosts and ports, never passwords,
    but an AUTH failure's reply is the server's: keep it short."""
    first = str(exc).splitlines()[0][:160] if str(exc) else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
