"""Plan a micro-batch: received messages -> the chunks to dispatch now, and what is settled without
running anything. No I/O but the pacer's: it reads the batch and the settings and books slots
in the pacer (a round trip to the rate store when the VLM budget is shared: the consumer runs
it in a thread).

- A message whose body does not parse is *poison*; so is one whose ``output`` lies outside
  the consumer's own output and the operator's ``allowed_output_roots``, or that sets an
  engine option only the operator may set (an endpoint, a secret's variable, a folder), and
  a one-record S3 event whose record cannot be a page (an unsafe key).
- An S3 event with several records to settle (or none) is *fanned out*: one message per page,
  and one per refused record (a one-record event), so that each record has its own outcome.
- A page whose id another page of the batch (or of its event) took for another image is a
  *collision*: dead-lettered (permanent) instead of overwriting or skipping the other's result.
- A page of a paced engine (a VLM) books a slot in the pacer; past half the task timeout it is
  *deferred* instead (back later as throttled: no attempt counted), so no call outlives its timeout;
  so is it when the shared budget's store cannot be reached (never sent unbooked).
- The other pages are grouped by what they share (``ChunkSpec``) and split into as few chunks
  as keep every worker busy (about one per worker), none longer than its engine's cap
  (``sizing.py``); paced pages go ``vlm_max_concurrent`` to a chunk.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from comicocr.consumer.sizing import MAX_PAGES
from comicocr.contract import Chunk, ChunkSpec, EngineSpec, Failed, Outcome, PageJob, Throttled
from comicocr.errors import ErrorClass, PoisonMessage
from comicocr.locations import output_problem, scheme_of, within_any
from comicocr.messages import COLLISION_ATTR, EventItem, PageMessage, Parsed, parse_body
from comicocr.queues.base import Message
from comicocr.ratelimit import Pacer, RateStoreDown
from comicocr.settings import Settings

T = TypeVar("T")


class EngineCatalog(Protocol):
    """What the planner asks of the engines. The consumer is handed one
    (``comicocr.engines.CATALOG``): it never imports engines itself."""

    def paced_tokens(self, name: str, options: Mapping[str, object]) -> int | None:
        """Tokens a page of ``name`` with ``options`` books in the pacer; None: not paced."""
        ...

    def operator_options(self, name: str) -> frozenset[str]:
        """Options of ``name`` that a queue message may not set."""
        ...


@dataclass(frozen=True)
class Dispatch:
    """A chunk to run, and the message each of its pages came from (same order)."""

    chunk: Chunk
    messages: tuple[Message, ...]

    def single(self, i: int) -> Dispatch:
        """Page ``i`` alone, as a chunk of its own (key "0")."""
        page = self.chunk.pages[i]
        alone = dataclasses.replace(page, key="0")
        return Dispatch(Chunk(self.chunk.spec, (alone,)), (self.messages[i],))


@dataclass(frozen=True)
class PageResult:
    """What became of one page: the message it came in, its engine, the outcome."""

    message: Message
    engine: str
    outcome: Outcome


@dataclass
class Plan:
    dispatches: list[Dispatch] = field(default_factory=list)
    # settled without a run: paced pages past the horizon (throttled), id collisions (permanent)
    deferred: list[PageResult] = field(default_factory=list)
    poison: list[tuple[Message, str, str | None]] = field(default_factory=list)  # (message, why, id if known)
    fan_out: list[tuple[Message, list[EventItem]]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # created objects of S3 events that are no image

    @property
    def pages(self) -> int:
        return sum(len(d.messages) for d in self.dispatches)


def chunk_spec(page: PageMessage, settings: Settings, paced: bool) -> ChunkSpec:
    """What a page's chunk shares, from the message and the consumer's settings."""
    s = settings
    options = dict(page.options or s.engine_options)
    if paced:  # the VLM settings reach the engine as options, not environment
        defaults = {"model": s.vlm_model, "base_url": s.vlm_base_url}
        options = {**{k: v for k, v in defaults.items() if v}, **options}
    engine = EngineSpec(page.method or s.method, page.lang or s.lang, options, s.gpu)
    return ChunkSpec(
        engine=engine,
        output=page.output or s.output,
        direction=s.reading_direction,
        skip_existing=s.skip_existing,
        max_image_bytes=s.max_image_bytes,
        max_image_pixels=s.max_image_pixels,
        allowed_roots=tuple(s.allowed_roots),
        allow_http=s.allow_http,
    )


def option_refusal(page: PageMessage, settings: Settings, engines: EngineCatalog) -> str | None:
    """Why a message's engine options are refused, or None."""
    reserved = sorted(set(page.options) & engines.operator_options(page.method or settings.method))
    if reserved:
        return f"message sets engine options only the operator may set: {', '.join(reserved)}"
    return None


def image_refusal(page: PageMessage, settings: Settings) -> str | None:
    """Why a page's image cannot reach the workers, or None: a local file when they run
    elsewhere (a Lambda would only find it missing, after a cold start, page after page)."""
    if settings.local_images or scheme_of(page.image_path):
        return None
    return (
        f"image {page.image_path[:200]!r} is a file on this machine, but Lithops' workers run elsewhere"
        " and cannot read it: store images in s3:// (or another object store) and send those paths"
    )


def output_refusal(page: PageMessage, settings: Settings) -> str | None:
    """Why a message may not write where its ``output`` says, or None. Whoever can send to the
    queue must not choose where the consumer writes: only inside its own output or a root the
    operator allowed."""
    if page.output is None:
        return None
    problem = output_problem(page.output)
    if problem:
        return f"message output refused: {problem}"
    if not within_any(page.output, [settings.output, *settings.allowed_output_roots]):
        return (
            f"message output {page.output[:200]!r} is outside the consumer's output and the allowed"
            " output roots (COMICOCR_ALLOWED_OUTPUT_ROOTS)"
        )
    return None


def split_evenly(items: list[T], workers: int, max_chunk: int) -> list[list[T]]:
    """Split into as few chunks as keep every worker busy, none larger than ``max_chunk``."""
    if not items:
        return []
    n_chunks = max(min(workers, len(items)), math.ceil(len(items) / max_chunk))
    size = math.ceil(len(items) / n_chunks)
    return [items[i : i + size] for i in range(0, len(items), size)]


@dataclass
class _Page:
    message: Message
    page: PageMessage
    spec: ChunkSpec
    send_at: float | None = None


def _dispatch(spec: ChunkSpec, members: list[_Page]) -> Dispatch:
    pages = tuple(
        PageJob(str(i), m.page.canonical_id, m.page.image_path, m.send_at, m.page.member)
        for i, m in enumerate(members)
    )
    return Dispatch(Chunk(spec, pages), tuple(m.message for m in members))


def _grouped(pages: list[_Page]) -> list[tuple[ChunkSpec, list[_Page]]]:
    groups: dict[str, tuple[ChunkSpec, list[_Page]]] = {}
    for p in pages:
        groups.setdefault(p.spec.group_key(), (p.spec, []))[1].append(p)
    return list(groups.values())


def _collision(
    message: Message,
    page: PageMessage,
    event: bool,
    settings: Settings,
    sources: dict[tuple[str, str], tuple[str, str | None]],
) -> str | None:
    """Why ``page`` may not take its id, or None: its event gave the id to another object
    (the record was re-sent alone, marked), or an earlier page of this batch has it for
    another image. Pages of one batch may run side by side: the later write would replace
    the other's result, or be skipped as if done."""
    marked = message.attributes.get(COLLISION_ATTR) if event else None
    if marked:
        return marked
    source = (page.image_path, page.member)
    taken = sources.setdefault((page.output or settings.output, page.canonical_id), source)
    if taken == source:
        return None
    other = taken[0] if taken[1] is None else f"{taken[0]} member {taken[1]}"
    return (
        f"id collision: {page.image_path[:300]} and {other[:300]} (same batch) both map to the id"
        f" {page.canonical_id[:300]!r}"
    )


def _parsed(message: Message, settings: Settings) -> Parsed | str:
    """The message's pages, or why it is poison."""
    try:
        return parse_body(message.body, ids_with_bucket=not settings.event_ids_without_bucket)
    except PoisonMessage as exc:
        return str(exc)
    except Exception as exc:  # a body no parser foresaw must poison itself, not its whole batch
        return f"unreadable message: {type(exc).__name__}"


def _book(
    paced: list[tuple[_Page, int]], settings: Settings, pacer: Pacer, deferred: list[PageResult]
) -> list[_Page]:
    """Book a slot for each paced page; the pages that got none go to ``deferred``, throttled."""
    horizon = settings.task_timeout_s / 2
    booked: list[_Page] = []
    for item, tokens in paced:
        cid = item.page.canonical_id
        try:
            backlog = pacer.backlog_s()
            if backlog <= horizon:
                item.send_at = pacer.reserve(tokens, lead_s=settings.vlm_dispatch_lead_s)
                booked.append(item)
                continue
            outcome = Throttled("", cid, "VLM budget booked ahead", backlog)
        except RateStoreDown as exc:  # never sent unbooked: back later, no attempt counted
            outcome = Throttled("", cid, str(exc), exc.retry_after_s)
        deferred.append(PageResult(item.message, item.spec.engine.name, outcome))
    return booked


def plan(
    batch: list[Message],
    settings: Settings,
    pacer: Pacer,
    engines: EngineCatalog,
    chunk_pages: Callable[[str], int] | None = None,
) -> Plan:
    """Turn received messages into chunks to run now and messages settled without a run.
    ``chunk_pages(engine)``: the most pages one call of that engine takes (``sizing.py``);
    without it, ``settings.max_chunk`` or ``sizing.MAX_PAGES``."""
    out = Plan()
    plain: list[_Page] = []
    paced: list[tuple[_Page, int]] = []
    sources: dict[tuple[str, str], tuple[str, str | None]] = {}  # (output, id) -> the image it is for
    for message in batch:
        parsed = _parsed(message, settings)
        if isinstance(parsed, str):
            out.poison.append((message, parsed, None))
            continue
        out.ignored += parsed.ignored
        if parsed.event and len(parsed.items) != 1:
            out.fan_out.append((message, parsed.items))
            continue
        if parsed.refused:  # a one-record event (or a record re-sent alone) that is no page
            out.poison.append((message, parsed.refused[0].reason, None))
            continue
        page = parsed.pages[0]
        refusal = (
            image_refusal(page, settings)
            or output_refusal(page, settings)
            or option_refusal(page, settings, engines)
        )
        if refusal:
            out.poison.append((message, refusal, page.canonical_id))
            continue
        collision = _collision(message, page, parsed.event, settings, sources)
        if collision:
            failed = Failed("", page.canonical_id, ErrorClass.PERMANENT, collision)
            out.deferred.append(PageResult(message, page.method or settings.method, failed))
            continue
        tokens = engines.paced_tokens(page.method or settings.method, page.options or settings.engine_options)
        item = _Page(message, page, chunk_spec(page, settings, paced=tokens is not None))
        if tokens is None:
            plain.append(item)
        else:
            paced.append((item, tokens))

    for spec, members in _grouped(plain):
        cap = chunk_pages(spec.engine.name) if chunk_pages else settings.max_chunk or MAX_PAGES
        out.dispatches += [_dispatch(spec, part) for part in split_evenly(members, settings.workers, cap)]

    booked = _book(paced, settings, pacer, out.deferred)
    step = settings.vlm_max_concurrent
    for spec, members in _grouped(booked):
        out.dispatches += [_dispatch(spec, members[i : i + step]) for i in range(0, len(members), step)]
    return out
