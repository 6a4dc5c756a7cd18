"""What ``comicocr status`` shows: one queue's stats, as a short table or one JSON object.

Unknown values (a server without CloudWatch, a file from an older comicocr, an empty queue's
oldest age) are ``null`` in JSON and ``n/a`` in the table, never a guessed number::

    stats = await read_stats("sqs://pages", dlq=None)
    print(table("sqs://pages", stats))
"""

from __future__ import annotations

from typing import Any

from comicocr.errors import ConfigError
from comicocr.queues import open_queue
from comicocr.queues.base import STATS_WINDOWS_MIN, QueueStats


async def read_stats(address: str, dlq: str | None = None, visibility_s: int = 300) -> QueueStats:
    """Open the queue, read its stats, close it. Creates nothing: a queue that is not there is
    a ConfigError (an embedded queue's file is checked first, as opening it would create it)."""
    if address.startswith("sqlite:///"):
        from comicocr.queues.local import path_from_address

        path = path_from_address(address)
        if not path.is_file():
            raise ConfigError(f"no queue file {path}: check --queue (the file appears on the first enqueue)")
    queue = open_queue(address, dlq, visibility_s)
    try:
        return await queue.stats()
    finally:
        await queue.close()


def _round(value: float | None, places: int) -> float | None:
    return None if value is None else round(value, places)


def as_json(address: str, stats: QueueStats) -> dict[str, Any]:
    """The JSON object: the depths' keys as ``status`` always had them, then the rest."""
    d = stats.depths
    return {
        "queue": address,
        "visible": d.visible,
        "in_flight": d.in_flight,
        "delayed": d.delayed,
        "dead_lettered": d.dead,
        "dead_by_class": dict(sorted(stats.dead_by_class.items())),
        "dead_by_class_sampled": stats.dead_by_class_sampled,
        "oldest_age_s": _round(stats.oldest_age_s, 1),
        "pages_per_min": {f"{w}m": _round(stats.deleted_per_min.get(w), 2) for w in STATS_WINDOWS_MIN},
    }


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    minutes, s = divmod(int(seconds), 60)
    hours, m = divmod(minutes, 60)
    human = f"{hours}h {m:02d}m" if hours else f"{m}m {s:02d}s" if minutes else ""
    return f"{seconds:.0f} s" + (f" ({human})" if human else "")


def table(address: str, stats: QueueStats) -> str:
    """A few aligned lines for a person."""
    d = stats.depths
    dead = str(d.dead)
    if stats.dead_by_class:
        classes = ", ".join(
            f"{c} {n}" for c, n in sorted(stats.dead_by_class.items(), key=lambda i: (-i[1], i[0]))
        )
        counted = sum(stats.dead_by_class.values())
        sample = f"a sample of {counted}: " if stats.dead_by_class_sampled else ""
        dead += f"  ({sample}{classes})"
    rates = "   ".join(
        f"{w}m {'n/a' if (r := stats.deleted_per_min.get(w)) is None else f'{r:.1f}'}"
        for w in STATS_WINDOWS_MIN
    )
    rows = [
        ("queue", address),
        ("waiting", str(d.visible)),
        ("in flight", str(d.in_flight)),
        ("delayed", str(d.delayed)),
        ("dead-lettered", dead),
        ("oldest message", _age(stats.oldest_age_s)),
        ("pages/min", rates),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
