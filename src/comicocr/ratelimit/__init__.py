"""Pacing for vision-language-model work: requests per minute and tokens per minute.

A VLM page leaves for Lithops only with its slot reserved: ``reserve()`` books the
earliest time at which both budgets allow the request, and the worker sends the
request at that time. Booking ahead (instead of waiting here) lets one Lithops call
carry many paced pages, which matters where Lithops runs one job at a time (the
localhost backend) and costs nothing where it does not.

One interface (``Pacer``), two pacers: ``LocalPacer`` keeps the budget in this process
(``gcra.py``); ``SharedPacer`` keeps it in a store every consumer of one API key reaches,
so N consumers together stay within it (``shared.py``; Redis or a SQLite file).
``open_pacer(settings)`` gives the one ``COMICOCR_VLM_RATE_STORE`` asks for.

How many tokens a page books is the engine's to say (``Engine.request_tokens``).
"""

from __future__ import annotations

import os
import re

from comicocr.contract import DEFAULT_VLM_BASE_URL
from comicocr.errors import ConfigError
from comicocr.ratelimit.gcra import LocalPacer, Pacer, Rates
from comicocr.ratelimit.shared import BudgetStore, RateStoreDown, SharedPacer, budget_name
from comicocr.settings import Settings

__all__ = [
    "LocalPacer",
    "Pacer",
    "RateStoreDown",
    "Rates",
    "SharedPacer",
    "check_store",
    "open_pacer",
]

_REDIS = ("redis://", "rediss://", "unix://")
# scheme-ish word then ':' (redis:host), or a known scheme missing its ':' (redis//host)
_LOOKS_LIKE_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(?!/)|^(redis|rediss|unix|sqlite)/", re.IGNORECASE)
DEFAULT_KEY_ENV = "OPENROUTER_API_KEY"  # the VLM engines' default ``api_key_env``


def open_pacer(settings: Settings) -> Pacer:
    """The consumer's pacer: its own, or the shared budget in ``settings.vlm_rate_store``
    (opened lazily: nothing is contacted before the first booking)."""
    if not settings.vlm_rate_store:
        return LocalPacer(settings.vlm_requests_per_min, settings.vlm_tokens_per_min)
    rates = Rates.per_min(settings.vlm_requests_per_min, settings.vlm_tokens_per_min)
    return SharedPacer(open_store(settings.vlm_rate_store), budget_of(settings), rates)


def open_store(address: str) -> BudgetStore:
    if address.startswith(_REDIS):
        from comicocr.ratelimit.redis_store import RedisBudgetStore  # redis loads only when used

        return RedisBudgetStore(address)
    served = "use redis://HOST:PORT/DB, sqlite:///FILE or a file path"
    if "://" in address and not address.startswith("sqlite:///"):
        scheme = address.split("://", 1)[0][:20]
        raise ConfigError(f"VLM rate store: {scheme}:// is not served; {served}")
    path = address.removeprefix("sqlite:///")
    # A mistyped URL (redis:host:6379, redis//host) would otherwise become a local file, and
    # consumers on other machines would pace alone: refuse what looks like one.
    if (
        _LOOKS_LIKE_URL.match(address)
        or path.startswith("/dev/")
        or (os.path.exists(path) and not os.path.isfile(path))
    ):
        raise ConfigError(f"VLM rate store {address[:200]!r} is neither a URL nor a file; {served}")
    from comicocr.ratelimit.sqlite_store import SqliteBudgetStore

    return SqliteBudgetStore(address)


def budget_of(settings: Settings) -> str:
    """The budget's name: the one set, else a hash of the API key and the endpoint the VLM
    engines use (``engine_options`` first, as the planner gives them)."""
    if settings.vlm_rate_budget:
        return settings.vlm_rate_budget
    options = settings.engine_options
    key_env = str(options.get("api_key_env") or DEFAULT_KEY_ENV)
    # the URL the workers will use: an unset one and OpenRouter's written out are one budget
    base_url = str(options.get("base_url") or settings.vlm_base_url or DEFAULT_VLM_BASE_URL)
    return budget_name(os.environ.get(key_env, ""), base_url)


def check_store(settings: Settings) -> None:
    """The rate store answers (before anything is enqueued): a ConfigError naming the fix if not."""
    if not settings.vlm_rate_store:
        return
    store = open_store(settings.vlm_rate_store)
    try:
        store.ping()
    except RateStoreDown as exc:
        raise ConfigError(
            f"{str(exc).rstrip('.')}; start it, or fix COMICOCR_VLM_RATE_STORE / --vlm-rate-store"
            " (empty: each consumer paces itself alone)"
        ) from None
    finally:
        store.close()
