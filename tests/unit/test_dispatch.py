"""A worker that dies takes its chunk down; the pages are re-run one by one so only the culprit fails."""

import json
from typing import Any

from comicocr.consumer import acker
from comicocr.consumer.dispatch import build_chunks, run_chunks
from comicocr.messages import PageMessage
from comicocr.queues.base import Message


class KilledByBadPage:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def run_chunks(self, chunks: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        self.calls.append(len(chunks))
        out = []
        for chunk in chunks:
            ids = [p["canonical_id"] for p in chunk["pages"]]
            dead = "bad" in ids  # the whole call dies, as with a segfault
            out.append(
                [
                    {
                        "key": p["key"],
                        "canonical_id": p["canonical_id"],
                        "status": "error" if dead else "done",
                        "error_class": "retryable",
                        "error": "worker exited",
                        "chunk_failed": dead,
                    }
                    for p in chunk["pages"]
                ]
            )
        return out


async def test_crashing_page_fails_alone() -> None:
    ids = ["a", "b", "bad", "c", "d", "e"]
    items = [
        (
            Message(i, f"r-{i}", json.dumps({}), 1),
            PageMessage(canonical_id=i, image_path=f"/{i}.png"),
            {"s": 1},
        )
        for i in ids
    ]
    dispatcher = KilledByBadPage()
    chunks = build_chunks(items, workers=2, max_chunk=25)
    assert [len(c.items) for c in chunks] == [3, 3]
    results = await run_chunks(dispatcher, chunks, workers=2, task_timeout_s=10)
    status = {page.canonical_id: outcome["status"] for _, page, _, outcome in results}
    assert status == {"a": "done", "b": "done", "bad": "error", "c": "done", "d": "done", "e": "done"}
    assert dispatcher.calls == [2, 3]  # one batch call, then the suspect chunk's pages alone


def test_throttled_outcomes_do_not_count_attempts() -> None:
    message = Message("m", "r", "{}", 9, {acker.ATTEMPTS_ATTR: "2"})
    outcome = {
        "status": "error",
        "error_class": "retryable",
        "error": "429",
        "throttled": True,
        "retry_after_s": 30,
    }
    action = acker.decide(message, outcome, engine="qwen", max_attempts=3, backoff_base_s=15)
    assert (action.kind, action.attempts, action.delay_s) == ("retry", 2, 30)
