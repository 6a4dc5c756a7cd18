"""Batch and chunk caps follow what a page costs (pure logic)."""

from comicocr.consumer.sizing import MAX_PAGES, Sizing
from comicocr.settings import Settings


def test_caps_follow_the_engines_page_time() -> None:
    s = Settings(method="paddleocr", workers=2, visibility_timeout_s=900, task_timeout_s=600)
    sizing = Sizing(s)
    # profile 2.52 s/page: a quarter of the visibility over 2 workers, a quarter of the task timeout
    assert sizing.batch_pages() == int(225 * 2 / 2.52)
    assert sizing.chunk_pages("paddleocr") == int(150 / 2.52)
    for _ in range(50):  # the worker reports 1 s per page: the caps grow with it
        sizing.observe("paddleocr", 1.0)
    assert abs(sizing.page_s("paddleocr") - 1.0) < 0.01
    assert sizing.batch_pages() == 450
    assert sizing.chunk_pages("paddleocr") == 150


def test_cheap_pages_stop_at_the_hard_cap_and_flags_override() -> None:
    sizing = Sizing(Settings(method="null", workers=2))
    assert sizing.batch_pages() == MAX_PAGES
    assert sizing.chunk_pages("null") == MAX_PAGES
    assert sizing.chunk_pages("some-plugin") >= 1  # no profile: a cautious default
    fixed = Sizing(Settings(method="null", workers=2, batch_size=40, max_chunk=7))
    assert (fixed.batch_pages(), fixed.chunk_pages("null")) == (40, 7)
