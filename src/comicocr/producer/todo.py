"""Skip-if-done over a stream of pages: blocks of the pages whose result does not exist yet.

One listing per folder of a block (``storage.existing_results``), not one request per page,
and never the whole manifest at once: a block is ``BLOCK`` pages.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from comicocr import storage
from comicocr.messages import PageMessage

T = TypeVar("T")
BLOCK = 5000


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last one shorter); ``itertools.batched`` is 3.12's."""
    block: list[T] = []
    for item in items:
        block.append(item)
        if len(block) == size:
            yield block
            block = []
    if block:
        yield block


@dataclass
class Counts:
    pages: int = 0  # pages read so far
    already: int = 0  # of those, pages whose result was there


def todo_blocks(
    pages: Iterable[PageMessage], output: str, counts: Counts, block: int = BLOCK
) -> Iterator[list[PageMessage]]:
    """The pages of ``pages`` with no result under ``output``, a block at a time (empty
    blocks left out); ``counts`` fills in as they are read."""
    for part in batched(pages, block):
        there = storage.existing_results(output, (p.canonical_id for p in part))
        counts.pages += len(part)
        counts.already += len(there)
        todo = [p for p in part if p.canonical_id not in there]
        if todo:
            yield todo
