"""Move dead letters back to the queue, optionally filtered and with another engine.

The whole DLQ with no filter goes through SQS's own ``StartMessageMoveTask`` where the
server has it. Otherwise (filters, ``--max``, ``--method`` or ``--options``, the embedded
queue, or a server without the API such as moto) each message is received, re-sent and
only then deleted: an interruption at any point duplicates a page at worst, never loses one.

Both ways a redriven message keeps its attributes as the DLQ wrote them (the move task
cannot change them, so the other way does not either): the consumer sees the dead-letter
attributes and counts the page's attempts from zero (``acker.attempts_of``). Only the body
may change, and only by the receive -> send -> delete way: another engine, other options.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import structlog
from pydantic import ValidationError

from comicocr.errors import ConfigError
from comicocr.queues.base import MAX_BATCH, Message, Outgoing, Queue, in_tens
from comicocr.redact import redacted

log = structlog.get_logger("comicocr.redrive")
_HOLD_S = 120  # how long a dead letter stays hidden while this redrive looks at it


@dataclass(frozen=True)
class Retarget:
    """What a redrive changes in each page's body: its engine, its engine options.

    With ``method`` and no ``options``, a page keeps the options ``method`` takes (``takes``,
    the names in its options model) and loses the others; ``options`` replaces them all.
    """

    method: str | None = None
    options: Mapping[str, object] | None = None
    takes: frozenset[str] = frozenset()

    @property
    def changes_body(self) -> bool:
        return self.method is not None or self.options is not None


def retarget(method: str | None, options: Mapping[str, object] | None) -> Retarget:
    """The ``Retarget`` for ``--method``/``--options``; ConfigError for an unknown engine,
    options its model refuses, or options only the operator may set (a message cannot)."""
    if not method:
        return Retarget(None, options)
    from comicocr.engines.base import engine_class  # only here: the consumer side loads no engine

    cls = engine_class(method)
    if options is not None:
        reserved = sorted(set(options) & cls.operator_options)
        if reserved:
            raise ConfigError(
                f"--options sets what only the consumer's operator may set for {method!r}: "
                f"{', '.join(reserved)} (give it to the consumer instead)"
            )
        try:
            cls.Options.model_validate(dict(options))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ConfigError(f"bad --options for engine {method!r}: {where}: {err['msg']}") from None
    return Retarget(method, options, frozenset(cls.Options.model_fields))


@dataclass
class Redriven:
    canonical_id: str
    error_class: str
    error: str
    source: str = ""  # the image the page was read from (``source_key``)


def source_key(image_path: str, member: str | None) -> str:
    """What makes two messages of one id the same page: the image (and archive member)."""
    return f"{image_path}\n{member or ''}"


@dataclass
class RedriveReport:
    moved: int = 0
    listed: list[Redriven] = field(default_factory=list)  # what moved (or, in a dry run, would)
    via: str = "receive-send-delete"
    # Option name -> how many of the listed pages lost it (the new engine does not take it).
    dropped_options: Counter[str] = field(default_factory=Counter)

    def add(self, message: Message, dropped: list[str]) -> None:
        attrs = message.attributes
        error_class, error = attrs.get("comicocr-error-class", ""), attrs.get("comicocr-error", "")
        body = _body(message)
        member = body.get("member")
        source = source_key(str(body.get("image_path", "")), str(member) if member else None)
        self.listed.append(Redriven(_canonical_id(message), error_class, error, source))
        self.dropped_options.update(dropped)


def _body(message: Message) -> dict[str, object]:
    try:
        body = json.loads(message.body)
    except (json.JSONDecodeError, RecursionError):
        return {}
    return body if isinstance(body, dict) else {}


def _canonical_id(message: Message) -> str:
    return str(_body(message).get("canonical_id", ""))


def redriven(message: Message, target: Retarget) -> tuple[Outgoing, list[str]]:
    """The message a dead letter goes back as, and the options it lost. Its attributes stay
    as they are, as the server's move task keeps them: the consumer resets the attempts."""
    body, dropped = message.body, []
    try:
        data = json.loads(body) if target.changes_body else None
    except json.JSONDecodeError:
        data = None  # a poison body goes back as it was, to fail again visibly
    if isinstance(data, dict):
        if target.method:
            data["method"] = target.method
        old = data.get("options")
        if target.options is not None:
            data["options"] = dict(target.options)
        elif target.method and isinstance(old, dict):
            dropped = sorted(k for k in old if k not in target.takes)
            data["options"] = {k: v for k, v in old.items() if k in target.takes}
        body = json.dumps(data)
    return Outgoing(body, dict(message.attributes)), dropped


async def redrive(
    queue: Queue,
    *,
    error_classes: set[str] | None = None,
    id_prefix: str | None = None,
    method: str | None = None,
    options: Mapping[str, object] | None = None,
    max_messages: int | None = None,
    dry_run: bool = False,
    look_at: int | None = None,
) -> RedriveReport:
    """Move matching dead letters back to ``queue``; with ``dry_run`` only list them.
    ``method`` and ``options`` change the pages' engine (see ``Retarget``); ``max_messages``
    caps what moves, or what a dry run lists; ``look_at`` caps how many dead letters are looked at."""
    target = retarget(method, options)
    report = RedriveReport()
    if not (error_classes or id_prefix or target.changes_body or max_messages or dry_run):
        try:
            report.moved = await queue.move_dead_letters_back()
            report.via = "StartMessageMoveTask"
            return report
        except Exception as exc:  # MoveUnsupported, or a server that lacks the API: do it by hand
            log.info("redrive.move_task_unavailable", error=redacted(exc))
    dead_letters = queue.dead_letters

    def wanted(message: Message) -> bool:
        error_class = message.attributes.get("comicocr-error-class", "")
        return (not error_classes or error_class in error_classes) and (
            not id_prefix or _canonical_id(message).startswith(id_prefix)
        )

    seen: set[str] = set()
    held: list[str] = []  # receipts of dead letters we looked at but leave in the DLQ
    try:
        # The cap counts what is listed: what moved, or in a dry run what would.
        while (max_messages is None or len(report.listed) < max_messages) and (
            look_at is None or len(seen) < look_at
        ):
            batch = [m for m in await dead_letters.receive(MAX_BATCH, 0, _HOLD_S) if m.id not in seen]
            if not batch:
                break
            move: list[Message] = []
            for message in batch:
                seen.add(message.id)
                room = max_messages is None or len(report.listed) + len(move) < max_messages
                if room and wanted(message):
                    move.append(message)
                else:
                    held.append(message.receipt)
            pairs = [(m, *redriven(m, target)) for m in move]
            if dry_run:
                held += [m.receipt for m in move]
            else:
                failed = set((await queue.send_batch([o for _, o, _ in pairs])).failed)
                held += [m.receipt for i, m in enumerate(move) if i in failed]
                pairs = [p for i, p in enumerate(pairs) if i not in failed]
                await dead_letters.delete_batch([m.receipt for m, _, _ in pairs])  # only after the send
                report.moved += len(pairs)
            for message, _, dropped in pairs:
                report.add(message, dropped)
    finally:
        for group in in_tens(held):
            await dead_letters.change_visibility_batch([(r, 0) for r in group])
    return report


# Dead letters no retry mends: a re-run of the same manifest reports them instead of sending
# (and dead-lettering) them again. At most this many are looked at.
UNMENDED = frozenset({"permanent", "poison"})
DEAD_CHECK_LIMIT = 10_000


async def dead_for_good(queue: Queue, limit: int = DEAD_CHECK_LIMIT) -> dict[tuple[str, str], Redriven]:
    """The dead letters whose class no retry mends (permanent, poison), by canonical id and
    ``source``, for ``run`` to match against its pages as it reads them: a page
    whose dead letter names the same image (``source``) would only die again, while a
    corrected row (another path) is new work. Nothing moves; at most ``limit`` dead letters
    are looked at, each hidden a moment, as in a dry-run redrive."""
    if (await queue.depths()).dead == 0:
        return {}
    listed = await redrive(queue, error_classes=set(UNMENDED), dry_run=True, look_at=limit)
    found: dict[tuple[str, str], Redriven] = {}
    for item in listed.listed:
        found.setdefault((item.canonical_id, item.source), item)
    return found
