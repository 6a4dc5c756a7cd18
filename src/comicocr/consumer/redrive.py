"""Move dead letters back to the queue, optionally filtered and with another engine.

The whole DLQ with no filter goes through SQS's own ``StartMessageMoveTask`` where the
server has it. Otherwise (filters, ``--method``, the embedded queue, or a server without
the API such as moto) each message is received, re-sent and only then deleted: an
interruption at any point duplicates a page at worst, never loses one. Redriven pages
start afresh: their failed-attempt count and error attributes are dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import structlog

from comicocr.consumer.acker import ATTEMPTS_ATTR
from comicocr.queues.base import MAX_BATCH, Message, Outgoing, Queue, in_tens
from comicocr.redact import redacted

log = structlog.get_logger("comicocr.redrive")
_HOLD_S = 120  # how long a dead letter stays hidden while this redrive looks at it


@dataclass
class Redriven:
    canonical_id: str
    error_class: str
    error: str


@dataclass
class RedriveReport:
    moved: int = 0
    listed: list[Redriven] = field(default_factory=list)  # what matched (what moved, or would)
    via: str = "receive-send-delete"


def _canonical_id(message: Message) -> str:
    try:
        body = json.loads(message.body)
    except json.JSONDecodeError:
        return ""
    return str(body.get("canonical_id", "")) if isinstance(body, dict) else ""


def _rewrite(message: Message, method: str | None) -> Outgoing:
    body = message.body
    if method:
        try:
            data = json.loads(body)
        except json.JSONDecodeError:
            data = None  # a poison body goes back as it was, to fail again visibly
        if isinstance(data, dict):
            data["method"] = method
            body = json.dumps(data)
    keep = {k: v for k, v in message.attributes.items() if not k.startswith("comicocr-")}
    return Outgoing(body, {**keep, ATTEMPTS_ATTR: "0"})


async def redrive(
    queue: Queue,
    *,
    error_classes: set[str] | None = None,
    id_prefix: str | None = None,
    method: str | None = None,
    max_messages: int | None = None,
    dry_run: bool = False,
) -> RedriveReport:
    """Move matching dead letters back to ``queue``; with ``dry_run`` only list them."""
    report = RedriveReport()
    if not (error_classes or id_prefix or method or max_messages or dry_run):
        try:
            report.moved = await queue.move_dead_letters_back()
            report.via = "StartMessageMoveTask"
            return report
        except Exception as exc:  # MoveUnsupported, or a server that lacks the API: do it by hand
            log.info("redrive.move_task_unavailable", error=redacted(exc))
    dead_letters = queue.dead_letters

    seen: set[str] = set()
    held: list[str] = []  # receipts of dead letters we looked at but leave in the DLQ
    try:
        while max_messages is None or report.moved < max_messages:
            batch = [m for m in await dead_letters.receive(MAX_BATCH, 0, _HOLD_S) if m.id not in seen]
            if not batch:
                break
            move: list[Message] = []
            for message in batch:
                seen.add(message.id)
                cid = _canonical_id(message)
                error_class = message.attributes.get("comicocr-error-class", "")
                wanted = (not error_classes or error_class in error_classes) and (
                    not id_prefix or cid.startswith(id_prefix)
                )
                room = max_messages is None or report.moved + len(move) < max_messages
                if wanted and room:
                    report.listed.append(
                        Redriven(cid, error_class, message.attributes.get("comicocr-error", ""))
                    )
                    move.append(message)
                else:
                    held.append(message.receipt)
            if dry_run:
                held += [m.receipt for m in move]
                continue
            failed = set((await queue.send_batch([_rewrite(m, method) for m in move])).failed)
            sent = [m for i, m in enumerate(move) if i not in failed]
            held += [m.receipt for i, m in enumerate(move) if i in failed]
            await dead_letters.delete_batch([m.receipt for m in sent])  # only after the send
            report.moved += len(sent)
    finally:
        for group in in_tens(held):
            await dead_letters.change_visibility_batch([(r, 0) for r in group])
    return report
