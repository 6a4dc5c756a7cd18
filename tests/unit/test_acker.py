"""What happens to a message after its page was tried: pure decisions, then real applies."""

import asyncio
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from comicocr.consumer import acker
from comicocr.contract import Done, Failed, Outcome, Skipped
from comicocr.errors import ErrorClass
from comicocr.queues.base import Message, Outgoing
from comicocr.queues.local import LocalQueue


def msg(attempts: int | None = None) -> Message:
    attrs = {} if attempts is None else {acker.ATTEMPTS_ATTR: str(attempts)}
    return Message("m1", "r1", '{"canonical_id": "a", "image_path": "a.png"}', 7, attrs)


def failed(error_class: str, error: str) -> Failed:
    return Failed("0", "a", ErrorClass(error_class), error)


def decide(outcome: Outcome, message: Message | None = None, max_attempts: int = 3) -> acker.Action:
    return acker.decide(
        message or msg(), outcome, engine="null", max_attempts=max_attempts, backoff_base_s=10
    )


def test_done_and_skipped_delete() -> None:
    assert decide(Done("0", "a", "/out/a_ocr.json")).kind == "delete"
    assert decide(Skipped("0", "a", "/out/a_ocr.json")).status == "skipped"


def test_permanent_goes_straight_to_dlq() -> None:
    action = decide(failed("permanent", "image not found"))
    assert (action.kind, action.error_class, action.attempts) == ("dead", ErrorClass.PERMANENT, 1)


def test_retryable_counts_own_attempts_not_receive_count() -> None:
    # ApproximateReceiveCount is 7 here, yet this is only the first failure.
    first = decide(failed("retryable", "timeout"))
    assert (first.kind, first.attempts, first.delay_s) == ("retry", 1, 10)
    second = decide(failed("retryable", "timeout"), msg(attempts=1))
    assert (second.kind, second.attempts, second.delay_s) == ("retry", 2, 20)
    last = decide(failed("retryable", "timeout"), msg(attempts=2))
    assert (last.kind, last.error_class) == ("dead", ErrorClass.EXHAUSTED)


def test_backoff_is_capped_at_sqs_limit() -> None:
    assert acker.backoff_s(30, 15) == 900


def test_reasons_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-supersecretvalue")
    action = decide(failed("permanent", "bad key sk-or-v1-supersecretvalue"))
    assert "supersecret" not in action.reason


async def test_apply_forwards_then_deletes(tmp_path: Path) -> None:
    queue = LocalQueue(f"sqlite:///{tmp_path}/q.sqlite3")
    await queue.send_batch([Outgoing(f'{{"n": {i}}}') for i in range(4)])
    received = await queue.receive(10, 0, 300)
    actions = [
        acker.Action("delete", received[0]),
        acker.Action("dead", received[1], "b", ErrorClass.PERMANENT, "missing", 1, engine="null"),
        acker.Action("retry", received[2], "c", ErrorClass.RETRYABLE, "flaky", 1, delay_s=0),
        acker.Action("hand_back", received[3]),
    ]
    result = await acker.apply(queue, actions)
    assert not result.unsettled
    dead = await queue.dead_letters.receive(10, 0, 30)
    assert [m.body for m in dead] == [received[1].body]
    assert dead[0].attributes["comicocr-error-class"] == "permanent"
    assert dead[0].attributes["comicocr-error"] == "missing"
    again = await queue.receive(10, 0, 300)
    by_body = {m.body: m for m in again}
    assert set(by_body) == {received[2].body, received[3].body}
    assert by_body[received[2].body].attributes[acker.ATTEMPTS_ATTR] == "1"
    assert by_body[received[3].body].receive_count == 2  # handed back, not re-sent
    await queue.close()


outcomes = st.one_of(
    st.builds(Done, st.just("0"), st.just("a"), st.just("/out/a_ocr.json")),
    st.builds(Skipped, st.just("0"), st.just("a"), st.just("/out/a_ocr.json")),
    st.builds(
        Failed,
        st.just("0"),
        st.just("a"),
        st.sampled_from([ErrorClass.RETRYABLE, ErrorClass.PERMANENT, ErrorClass.POISON]),
        st.text(max_size=20),
    ),
)


@given(st.lists(st.tuples(outcomes, st.integers(0, 5)), max_size=30), st.integers(1, 6))
def test_every_message_gets_exactly_one_action(cases: list, max_attempts: int) -> None:
    for outcome, attempts in cases:
        action = decide(outcome, msg(attempts), max_attempts)
        assert action.kind in ("delete", "retry", "dead")
        if not isinstance(outcome, Failed):
            assert action.kind == "delete"
        elif outcome.error_class != "retryable":
            assert action.kind == "dead"
        else:
            assert action.kind == ("dead" if attempts + 1 >= max_attempts else "retry")
            assert action.attempts == attempts + 1


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(["done", "permanent", "retryable", "hand_back"]), min_size=1, max_size=25))
def test_apply_settles_each_receipt_exactly_once(kinds: list[str]) -> None:
    """Every received message ends deleted, re-sent or dead-lettered, once; none is lost or doubled."""

    async def scenario(path: str) -> None:
        queue = LocalQueue(f"sqlite:///{path}/q.sqlite3")
        for start in range(0, len(kinds), 10):
            await queue.send_batch([Outgoing(str(i)) for i in range(start, min(start + 10, len(kinds)))])
        received = []
        while len(received) < len(kinds):
            received += await queue.receive(10, 0, 300)
        actions = []
        for message in received:
            kind = kinds[int(message.body)]
            if kind == "hand_back":
                actions.append(acker.Action("hand_back", message))
            else:
                outcome = Done("0", "a", "/r") if kind == "done" else failed(kind, "")
                actions.append(
                    acker.decide(message, outcome, engine="null", max_attempts=3, backoff_base_s=0)
                )
        result = await acker.apply(queue, actions)
        assert not result.unsettled
        assert sorted(a.message.receipt for a in result.applied) == sorted(m.receipt for m in received)
        back = sorted(int(m.body) for m in await _drain(queue))
        dead = sorted(int(m.body) for m in await _drain(queue, dead=True))
        assert back == [i for i, k in enumerate(kinds) if k in ("retryable", "hand_back")]
        assert dead == [i for i, k in enumerate(kinds) if k == "permanent"]
        await queue.close()

    with tempfile.TemporaryDirectory() as path:
        asyncio.run(scenario(path))


async def _drain(queue: LocalQueue, dead: bool = False) -> list[Message]:
    out: list[Message] = []
    while True:
        got = await (queue.dead_letters.receive(10, 0, 300) if dead else queue.receive(10, 0, 300))
        if not got:
            return out
        out += got


async def test_a_queue_that_cannot_delay_holds_throttled_pages_back(tmp_path: Path) -> None:
    from comicocr.contract import Throttled

    now = [1_000_000.0]
    queue = LocalQueue(f"sqlite:///{tmp_path}/q.sqlite3", clock=lambda: now[0])
    queue.delays_messages = False  # as an SQS FIFO queue: a re-send would come straight back
    await queue.send_batch([Outgoing("throttled"), Outgoing("flaky")])
    throttled, flaky = await queue.receive(10, 0, 300)
    actions = [
        decide(Throttled("0", "a", "429", retry_after_s=30), throttled),
        decide(failed("retryable", "timeout"), flaky),  # counted: re-sent with its attempt
    ]
    assert not (await acker.apply(queue, actions)).unsettled
    now[0] += 11
    (back,) = await queue.receive(10, 0, 300)
    assert (back.body, back.attributes[acker.ATTEMPTS_ATTR]) == ("flaky", "1")
    now[0] += 20  # the throttled one: the same message, hidden for its 30 s
    (later,) = await queue.receive(10, 0, 300)
    assert (later.id, later.receive_count) == (throttled.id, 2)
    await queue.close()


def test_dead_letter_attributes_are_the_ones_a_redrive_recognises() -> None:
    action = decide(failed("permanent", "image not found"))
    assert set(acker._dead_letter(action).attributes) == {acker.ATTEMPTS_ATTR, *acker.DEAD_LETTER_ATTRS}


@pytest.mark.parametrize("max_attempts", [1, 2, 3, 5])
def test_a_redriven_page_gets_all_its_attempts_then_the_dlq_again(max_attempts: int) -> None:
    """A dead letter moved back as it is (StartMessageMoveTask keeps its attributes) counts
    from zero; its first retry drops the dead-letter attributes, so retries do not reset the
    count again and the page still reaches the DLQ after ``max_attempts`` failures."""
    outcome = failed("retryable", "timeout")
    died = acker._dead_letter(decide(outcome, msg(attempts=max_attempts - 1), max_attempts))
    assert died.attributes[acker.ATTEMPTS_ATTR] == str(max_attempts)
    message, failures = Message("m2", "r2", died.body, 1, died.attributes), 0
    assert acker.attempts_of(message) == 0
    while True:
        action = decide(outcome, message, max_attempts)
        failures += 1
        if action.kind == "dead":
            break
        assert failures < max_attempts
        again = acker._retry(action)
        assert set(again.attributes).isdisjoint(acker.DEAD_LETTER_ATTRS)
        message = Message("m3", "r3", again.body, 1, again.attributes)
    assert (failures, action.error_class, action.attempts) == (
        max_attempts,
        ErrorClass.EXHAUSTED,
        max_attempts,
    )
