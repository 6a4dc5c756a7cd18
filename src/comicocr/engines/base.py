"""The engine contract and its registry.

An engine turns one decoded page into text regions. Engines run inside Lithops
worker processes: they load heavy libraries lazily in ``__init__`` (once per
Lithops call, for a whole chunk of pages), use one thread, and start no pools of
their own; parallelism is the pipeline's job. Only engine *names and options*
travel to workers, never engine objects.

Engines are found through the ``comicocr.engines`` entry-point group, the built-in
ones included (see pyproject.toml); a third party adds one the same way::

    [project.entry-points."comicocr.engines"]
    myengine = "mypkg.engine:MyEngine"

A new engine subclasses ``Engine`` with its own ``Options`` model; ``null.py`` is the template.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, ClassVar, Generic, TypeVar

from PIL import Image
from pydantic import BaseModel, ConfigDict, ValidationError

from comicocr.contract import Region
from comicocr.errors import ConfigError, PermanentError

ENTRY_POINT_GROUP = "comicocr.engines"
FAULTS_VAR = "COMICOCR_FAULT_ENGINES"  # "1": the fault-injection engines of faults.py exist


class EngineOptions(BaseModel):
    """Base for per-engine options; unknown keys are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


OptionsT = TypeVar("OptionsT", bound=EngineOptions)


@dataclass(frozen=True)
class Recognition:
    """What an engine read on one page: regions in any order (unless the engine
    ``keeps_order``), and the service's usage report where there is one (VLM tokens, cost)."""

    regions: list[Region]
    usage: Mapping[str, object] | None = None


@dataclass
class Meter:
    """What reading one page cost at a billed service: each request sent (retries included)
    and the usage the service reported for its answer, whether or not the answer was usable.

    The worker opens one per page with ``metered()``, so it knows the count however the page
    ends (a result, an exception, throttled); an engine adds to ``meter()`` as it sends::

        meter().requests += 1
    """

    requests: int = 0
    usage: Mapping[str, object] | None = None


# Per page, not per engine: the worker reads paced pages side by side in threads with one
# engine, and each thread (and the event loop asyncio.run starts in it) sees its own meter.
_METER: ContextVar[Meter | None] = ContextVar("comicocr_meter", default=None)


@contextlib.contextmanager
def metered() -> Iterator[Meter]:
    """A fresh ``Meter`` for what runs inside (in this thread), returned to read afterwards."""
    meter = Meter()
    token = _METER.set(meter)
    try:
        yield meter
    finally:
        _METER.reset(token)


def meter() -> Meter:
    """The meter of the page being read; outside ``metered()`` a throwaway one (nobody reads it)."""
    return _METER.get() or Meter()


class Engine(ABC, Generic[OptionsT]):
    """What every engine provides. The capability flags default to the common case."""

    name: ClassVar[str]
    languages: ClassVar[tuple[str, ...]]  # ISO 639-1 codes the engine reads offline
    Options: ClassVar[type[EngineOptions]] = EngineOptions
    supports_gpu: ClassVar[bool] = False
    paced: ClassVar[bool] = False  # calls a rate-limited service: the consumer's pacer books each page
    keeps_order: ClassVar[bool] = False  # answers in reading order: the layout step leaves it alone
    # Options only the operator may set (an endpoint, a secret's name, a folder): a queue
    # message that sets one is refused, or whoever can send could aim the engine elsewhere.
    operator_options: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, options: OptionsT, lang: str, gpu: bool) -> None:
        self.options = options
        self.lang = lang
        self.gpu = gpu

    @classmethod
    def check_ready(cls, options: Any, lang: str) -> None:
        """Raise ConfigError, one line naming the fix, when this machine cannot run the engine
        (a missing extra, program, language pack, model or key). Cheap: no model is loaded.
        Run before anything is enqueued, where the workers run (Lithops localhost); a cloud
        runtime image is checked when it is built."""

    @classmethod
    def request_tokens(cls, options: Any) -> int:
        """Tokens one page may use, booked in the pacer (paced engines only)."""
        return 0

    @abstractmethod
    def describe(self) -> dict[str, str]:
        """``{"engine": ..., "version": ..., "model": ...}`` (and ``device`` where it matters)
        for the result file."""

    @abstractmethod
    def recognize(self, image: Image.Image) -> Recognition:
        """Read one RGB page."""


EngineClass = type[Engine[Any]]


def require_modules(engine: str, *modules: str, fix: str) -> None:
    """ConfigError when a module an engine imports is not installed (found without importing it)."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"engine {engine!r} needs {', '.join(missing)}, which is not installed: {fix}")


# Registered only when FAULTS_VAR is set, so a message cannot select them in production.
_FAULT_ENGINES = {
    "fault_crash": "comicocr.engines.faults:CrashEngine",
    "fault_oom": "comicocr.engines.faults:OomEngine",
    "fault_hang": "comicocr.engines.faults:HangEngine",
    "fault_flaky": "comicocr.engines.faults:FlakyEngine",
    "fault_slow": "comicocr.engines.faults:SlowEngine",
}


def _entry_points() -> dict[str, EntryPoint]:
    found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    if os.environ.get(FAULTS_VAR) == "1":
        found |= {n: EntryPoint(n, target, ENTRY_POINT_GROUP) for n, target in _FAULT_ENGINES.items()}
    return found


@functools.cache
def engine_class(name: str) -> EngineClass:
    """Look an engine up by name among the installed entry points."""
    found = _entry_points()
    if name not in found:
        raise ConfigError(f"unknown OCR method {name!r}; known: {', '.join(sorted(found))}")
    try:
        cls = found[name].load()
    except Exception as exc:  # a broken plugin: one clear error, not a crash
        raise ConfigError(f"engine {name!r} cannot be loaded: {type(exc).__name__}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Engine)):
        raise ConfigError(f"engine {name!r} ({found[name].value}) does not subclass comicocr.engines.Engine")
    return cls


# Best first, by order-free recall and precision on real pages (bench/real_pages.py, README).
PREFERRED = ("paddleocr", "tesseract")


@functools.cache
def best_installed(lang: str) -> tuple[str, str | None]:
    """The default engine: the best of ``PREFERRED`` that is ready here, with a one-line notice
    when a better one was passed over (None when the best one is ready). When none is ready,
    the last; preflight then says what it lacks."""
    passed_over: list[str] = []
    for name in PREFERRED:
        try:
            cls, options = resolve(name, {}, lang)
            cls.check_ready(options, lang)
        except Exception as exc:  # ConfigError, or a broken install: pass it over, say why
            passed_over.append(f"{name} ({exc})")
            continue
        notice = f"using {name}: {'; '.join(passed_over)}" if passed_over else None
        return name, notice
    return PREFERRED[-1], None


def available() -> list[str]:
    """Every engine name that can be asked for."""
    return sorted(_entry_points())


class Catalog:
    """What the consumer may ask of the engines without importing them: it is handed this.
    An engine that cannot be found or loaded is neither paced nor restricted here: the worker
    fails its pages with the reason (a raise here would hand the whole batch back, forever)."""

    def paced_tokens(self, name: str, options: Mapping[str, object]) -> int | None:
        """Tokens a page of engine ``name`` books in the pacer; None when it is not paced."""
        try:
            cls = engine_class(name)
        except ConfigError:
            return None
        if not cls.paced:
            return None
        try:
            return cls.request_tokens(cls.Options.model_validate(dict(options)))
        except Exception:
            return 0  # bad options: the worker says why

    def operator_options(self, name: str) -> frozenset[str]:
        """The options of ``name`` that a queue message may not set."""
        try:
            return engine_class(name).operator_options
        except ConfigError:
            return frozenset()


CATALOG = Catalog()


def resolve(name: str, options: Mapping[str, object], lang: str) -> tuple[EngineClass, EngineOptions]:
    """The engine and validated options a page would get, or ConfigError saying why not."""
    cls = engine_class(name)
    if lang not in cls.languages:
        raise ConfigError(
            f"engine {name!r} does not read language {lang!r} (it reads: {', '.join(cls.languages)})"
        )
    try:
        return cls, cls.Options.model_validate(dict(options))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(
            f"bad options for engine {name!r}: {where + ': ' if where else ''}{err['msg']}"
        ) from None


def load_engine(name: str, options: Mapping[str, object], lang: str, gpu: bool) -> Engine[Any]:
    """Build an engine inside a worker; bad options or language are permanent errors."""
    engine_class(name)  # an unknown or broken engine stays a ConfigError
    try:
        cls, opts = resolve(name, options, lang)
    except ConfigError as exc:  # the page's language or options: that page's fault
        raise PermanentError(str(exc)) from None
    return cls(opts, lang, gpu)
