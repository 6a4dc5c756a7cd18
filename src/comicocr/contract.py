"""The contract between the consumer and its workers: what goes to a worker, what comes back.

Both sides import this module, and it imports nothing heavy (the standard library and
``errors``), so the consumer process never loads an engine, an image library or a storage
client. A *chunk* (one Lithops call) is a ``ChunkSpec`` shared by its pages plus the
``PageJob`` of each page; the worker answers one ``Outcome`` per page, one of four kinds:

- ``Done``      - the result is written (``result`` says where);
- ``Skipped``   - a result was already there, nothing was redone;
- ``Failed``    - no result, with an ``ErrorClass`` and the reason; ``whole_call`` when the
                  call died as a whole (crash, OOM kill, timeout) and no page is known at fault;
- ``Throttled`` - the service said "slow down": retried later, no failed attempt counted.

Every kind says how many ``requests`` the engine sent a billed service for the page (VLM
HTTP requests, retries in the worker included: 0 for local engines), and ``Done``,
``Skipped`` and ``Failed`` carry the ``usage`` the service reported for an answer it billed,
used or not.

Lithops ships plain data, so each type converts explicitly to and from it (``to_wire`` /
``from_wire``: dicts and lists of str, numbers, bools and None). ``Region`` is here too:
engines produce it, the layout orders it and the result file holds it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, TypeAlias

from comicocr.errors import ErrorClass

Wire: TypeAlias = dict[str, object]  # JSON-compatible plain data, as Lithops ships it

# Limits on one page's image; Settings takes its defaults from here.
MAX_IMAGE_BYTES = 50 * 1024 * 1024
MAX_IMAGE_PIXELS = 100_000_000  # ~10000 x 10000: far beyond any scanned comic page
# Where the VLM engines send requests unless told otherwise; the consumer names a shared rate
# budget after it (ratelimit.budget_of), so both sides must agree on it.
DEFAULT_VLM_BASE_URL = "https://openrouter.ai/api/v1"
MAX_ERROR_CHARS = 500  # a failure's reason, as it reaches the DLQ


class MalformedWire(ValueError):
    """Plain data that does not decode to the contract's types (a version mismatch or a bug)."""


@dataclass
class Region:
    """One line (or word group) of text, in source-image pixels."""

    text: str
    confidence: float  # 0..1
    bbox: tuple[int, int, int, int]  # x, y, w, h
    polygon: list[tuple[int, int]] | None = None
    extra: dict[str, object] = field(default_factory=dict)  # layout adds panel/balloon here

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {"text": self.text, "confidence": self.confidence, "bbox": list(self.bbox)}
        if self.polygon is not None:
            data["polygon"] = [list(p) for p in self.polygon]
        return {**data, **self.extra}


# -- what goes to a worker ---------------------------------------------------------------


@dataclass(frozen=True)
class EngineSpec:
    """Which engine reads the pages, and how. Options are plain data the engine validates."""

    name: str
    lang: str
    options: Mapping[str, object] = field(default_factory=dict)
    gpu: bool = False


@dataclass(frozen=True)
class ChunkSpec:
    """What every page of a chunk shares: the engine, where results go, the limits."""

    engine: EngineSpec
    output: str  # folder or object-store URI for <id>_ocr.json
    direction: str | None  # ltr / rtl; None: from the language
    skip_existing: bool
    max_image_bytes: int
    max_image_pixels: int
    allowed_roots: tuple[str, ...]
    allow_http: bool

    def group_key(self) -> str:
        """Pages share a Lithops call only when they share all of this."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True, default=str)


@dataclass(frozen=True)
class PageJob:
    key: str  # the page's place in its chunk: outcomes come back by key
    canonical_id: str
    image_path: str
    send_at: float | None = None  # paced pages: the epoch second the request may go
    member: str | None = None  # the page inside the archive at image_path (archives.py)


@dataclass(frozen=True)
class Chunk:
    """One Lithops call: pages that share a spec."""

    spec: ChunkSpec
    pages: tuple[PageJob, ...]

    def to_wire(self) -> Wire:
        return dataclasses.asdict(self)

    @classmethod
    def from_wire(cls, data: object) -> Chunk:
        if not isinstance(data, dict):
            raise MalformedWire("a chunk is not a dict")
        try:
            spec = dict(data["spec"])
            spec["engine"] = EngineSpec(**spec["engine"])
            spec["allowed_roots"] = tuple(spec["allowed_roots"])
            return cls(ChunkSpec(**spec), tuple(PageJob(**p) for p in data["pages"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedWire(f"not a chunk: {exc!r}"[:200]) from None

    def whole_call_failed(self, error: str) -> list[Outcome]:
        """Outcomes for a call that died as a whole: every page retryable, none to blame."""
        reason = error[:MAX_ERROR_CHARS]
        return [
            Failed(p.key, p.canonical_id, ErrorClass.RETRYABLE, reason, whole_call=True) for p in self.pages
        ]


# -- what comes back -------------------------------------------------------------------


@dataclass(frozen=True)
class Done:
    kind: ClassVar[str] = "done"
    key: str
    canonical_id: str
    result: str  # where the result file is
    num_regions: int = 0
    duration_s: float = 0.0
    usage: Mapping[str, object] | None = None  # VLM tokens and cost, when the engine reports them
    requests: int = 0  # requests sent to a billed service for this page (VLM), retries included


@dataclass(frozen=True)
class Skipped:
    kind: ClassVar[str] = "skipped"
    key: str
    canonical_id: str
    result: str
    usage: Mapping[str, object] | None = None  # read anyway, then found written (a racing delivery)
    requests: int = 0


@dataclass(frozen=True)
class Failed:
    kind: ClassVar[str] = "failed"
    key: str
    canonical_id: str
    error_class: ErrorClass
    error: str
    whole_call: bool = False  # the call died as a whole: this page is not known to be at fault
    usage: Mapping[str, object] | None = None  # an answer that was billed but unusable (empty, no JSON)
    requests: int = 0


@dataclass(frozen=True)
class Throttled:
    kind: ClassVar[str] = "throttled"
    key: str
    canonical_id: str
    error: str
    retry_after_s: float
    pause: str | None = None  # e.g. "payment_required": stop booking this engine for a while
    requests: int = 0


Outcome: TypeAlias = Done | Skipped | Failed | Throttled
_KINDS: dict[str, type[Outcome]] = {c.kind: c for c in (Done, Skipped, Failed, Throttled)}


def failed(page: PageJob, error_class: ErrorClass, error: str) -> Failed:
    return Failed(page.key, page.canonical_id, error_class, error[:MAX_ERROR_CHARS])


def outcome_to_wire(outcome: Outcome) -> Wire:
    wire: Wire = {"kind": outcome.kind, **dataclasses.asdict(outcome)}
    if isinstance(outcome, Failed):
        wire["error_class"] = outcome.error_class.value  # a plain str on the wire
    return wire


def outcome_from_wire(data: object) -> Outcome:
    if not isinstance(data, dict):
        raise MalformedWire("an outcome is not a dict")
    try:
        fields = dict(data)
        cls = _KINDS[fields.pop("kind")]
        if cls is Failed:
            fields["error_class"] = ErrorClass(fields["error_class"])
        if not isinstance(fields.get("requests", 0), int):  # absent in a payload from an older worker
            raise ValueError("requests is not an int")
        return cls(**fields)
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedWire(f"not an outcome: {exc!r}"[:200]) from None
