"""The pacer books evenly spaced slots; tokens and pauses push them back. Clock is faked."""

import pytest
from structlog.testing import capture_logs

from comicocr.engines import CATALOG
from comicocr.ratelimit import LocalPacer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_requests_are_evenly_spaced_without_a_burst() -> None:
    clock = Clock()
    pacer = LocalPacer(requests_per_min=30, clock=clock)
    assert [pacer.reserve() for _ in range(4)] == [1000.0, 1002.0, 1004.0, 1006.0]
    clock.now = 1100.0  # idle for a while: no burst of saved-up slots
    assert [pacer.reserve() for _ in range(2)] == [1100.0, 1102.0]


def test_lead_time_and_token_budget() -> None:
    clock = Clock()
    pacer = LocalPacer(requests_per_min=600, tokens_per_min=6000, clock=clock)  # 100 tokens/s
    assert pacer.reserve(tokens=500, lead_s=2) == 1002.0
    assert pacer.reserve(tokens=500) == 1007.0  # the token budget, not the request rate, binds
    assert pacer.backlog_s() == pytest.approx(7.1)


def test_pause_holds_every_slot_back() -> None:
    clock = Clock()
    pacer = LocalPacer(requests_per_min=60, clock=clock)
    with capture_logs() as logs:
        pacer.pause(300, "payment_required")
    assert pacer.reserve() == 1300.0
    assert logs == [
        {"event": "vlm.paused", "log_level": "error", "reason": "payment_required", "seconds": 300}
    ]


def test_paced_engines_book_image_prompt_and_output_tokens() -> None:
    assert (
        CATALOG.paced_tokens("qwen", {"max_side": 1600, "max_tokens": 2048})
        == int(1600 * 1600 * 2 / 3 / 784) + 300 + 2048
    )
    assert CATALOG.paced_tokens("gemma", {"max_side": 800}) == int(800 * 800 * 2 / 3 / 784) + 300 + 2048
    assert CATALOG.paced_tokens("qwen", {"max_side": "huge"}) == 0  # bad options: the worker says why
    assert CATALOG.paced_tokens("null", {}) is None  # not paced
    assert CATALOG.paced_tokens("tesseract", {}) is None
    assert CATALOG.paced_tokens("nope", {}) is None  # unknown: the worker fails it with the reason
