"""A worker that dies takes its chunk down; the pages are re-run one by one so only the culprit fails."""

import json

from comicocr.consumer import acker
from comicocr.consumer.dispatch import run_dispatches
from comicocr.consumer.planner import plan
from comicocr.contract import Chunk, Done, Failed, Outcome, Throttled
from comicocr.errors import ErrorClass
from comicocr.queues.base import Message
from comicocr.ratelimit import LocalPacer
from comicocr.settings import Settings


class KilledByBadPage:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def run_chunks(self, chunks: list[Chunk]) -> list[list[Outcome]]:
        self.calls.append(len(chunks))
        out: list[list[Outcome]] = []
        for chunk in chunks:
            if "bad" in [p.canonical_id for p in chunk.pages]:  # the whole call dies, as with a segfault
                out.append(chunk.whole_call_failed("worker exited"))
            else:
                out.append([Done(p.key, p.canonical_id, f"/out/{p.canonical_id}") for p in chunk.pages])
        return out


class NotPaced:
    def paced_tokens(self, name: str, options: object) -> None:
        return None

    def operator_options(self, name: str) -> frozenset[str]:
        return frozenset()


async def test_crashing_page_fails_alone() -> None:
    ids = ["a", "b", "bad", "c", "d", "e"]
    batch = [Message(i, f"r-{i}", json.dumps({"canonical_id": i, "image_path": f"/{i}.png"}), 1) for i in ids]
    settings = Settings(workers=2, max_chunk=25, method="null")
    work = plan(batch, settings, LocalPacer(20), NotPaced())
    assert [len(d.messages) for d in work.dispatches] == [3, 3]
    dispatcher = KilledByBadPage()
    results = await run_dispatches(dispatcher, work.dispatches, workers=2, task_timeout_s=10)
    status = {r.outcome.canonical_id: r.outcome.kind for r in results}
    assert status == {"a": "done", "b": "done", "bad": "failed", "c": "done", "d": "done", "e": "done"}
    assert dispatcher.calls == [2, 3]  # one batch call, then the suspect chunk's pages alone
    assert {r.message.id for r in results} == set(ids)  # every page's result goes to its own message


def test_throttled_outcomes_do_not_count_attempts() -> None:
    message = Message("m", "r", "{}", 9, {acker.ATTEMPTS_ATTR: "2"})
    outcome = Throttled("0", "a", "429", retry_after_s=30)
    action = acker.decide(message, outcome, engine="qwen", max_attempts=3, backoff_base_s=15)
    assert (action.kind, action.attempts, action.delay_s) == ("retry", 2, 30)


def test_missing_outcome_is_retryable() -> None:
    failed = Failed("0", "a", ErrorClass.RETRYABLE, "no outcome from worker")
    action = acker.decide(Message("m", "r", "{}", 1), failed, engine="null", max_attempts=3, backoff_base_s=0)
    assert (action.kind, action.attempts) == ("retry", 1)
