"""Batch and chunk caps follow what a page costs (pure logic)."""

from comicocr.consumer.sizing import MAX_PAGES, Sizing
from comicocr.estimate import PROFILES
from comicocr.settings import Settings


def test_caps_follow_the_engines_page_time() -> None:
    s = Settings(method="paddleocr", workers=2, visibility_timeout_s=900, task_timeout_s=600)
    sizing = Sizing(s)
    # its profile's s/page: a quarter of the visibility over 2 workers, a quarter of the task timeout
    profile = PROFILES["paddleocr"].cpu_s_per_page
    assert sizing.batch_pages() == int(225 * 2 / profile)
    assert sizing.chunk_pages("paddleocr") == int(150 / profile)
    for _ in range(50):  # the worker reports 3 s per page: the caps shrink with it
        sizing.observe("paddleocr", 3.0)
    assert abs(sizing.page_s("paddleocr") - 3.0) < 0.01
    assert sizing.batch_pages() == 150
    assert sizing.chunk_pages("paddleocr") == 50


def test_cheap_pages_stop_at_the_hard_cap_and_flags_override() -> None:
    sizing = Sizing(Settings(method="null", workers=2))
    assert sizing.batch_pages() == MAX_PAGES
    assert sizing.chunk_pages("null") == MAX_PAGES
    assert sizing.chunk_pages("some-plugin") >= 1  # no profile: a cautious default
    fixed = Sizing(Settings(method="null", workers=2, batch_size=40, max_chunk=7))
    assert (fixed.batch_pages(), fixed.chunk_pages("null")) == (40, 7)
