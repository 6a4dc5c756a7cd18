"""VLM pages through the whole pipeline (SQS server, consumer, token bucket, Lithops workers)
against a local OpenAI-compatible server that enforces a rate limit."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from comicocr.consumer import Consumer
from comicocr.engines import CATALOG
from comicocr.messages import PageMessage
from comicocr.producer import enqueue_pages
from comicocr.queues.sqs import SQSQueue
from comicocr.settings import Settings
from vlm_server import FakeVLM, ServerThread

from .conftest import comicocr

pytestmark = [pytest.mark.integration, pytest.mark.slow]
KEY = "sk-or-v1-pipeline-secret-0123456789"


async def run(
    queue_address: str, dispatcher: Any, server: ServerThread, out: Path, pages: list[PageMessage], **kw: Any
) -> Any:
    queue = SQSQueue(queue_address)
    await queue.ensure()
    await enqueue_pages(queue, pages)
    kw.setdefault("engine_options", {"max_side": 400})
    s = Settings(
        queue=queue_address,
        output=str(out),
        method="qwen",
        vlm_base_url=server.base_url,
        workers=2,
        batch_window_s=0.3,
        poll_wait_s=1,
        batch_size=50,
        **kw,
    )
    stats = await Consumer(queue, dispatcher, s, engines=CATALOG, until_idle=True).run()
    dead = await queue.dead_letters.receive(10, 0, 30)
    await queue.close()
    return stats, dead


def pages(sample_pages: Path, n: int) -> list[PageMessage]:
    return [
        PageMessage(canonical_id=f"v/p{i:03d}", image_path=str(sample_pages / "page_001.png"))
        for i in range(n)
    ]


async def test_limiter_under_the_servers_limit_paces_without_429(
    queue_address: str, dispatcher: Any, sample_pages: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", KEY)
    fake = FakeVLM(rpm_limit=25, window_s=10, api_key=KEY)  # 150/min, enforced over 10 s
    with ServerThread(fake) as server:
        stats, dead = await run(
            queue_address,
            dispatcher,
            server,
            tmp_path,
            pages(sample_pages, 30),
            vlm_requests_per_min=120,
            vlm_dispatch_lead_s=4,  # room for a slow job start on a busy CI
        )
    times = fake.ok_times()
    achieved = (len(times) - 1) / (times[-1] - times[0]) * 60
    print(
        f"vlm/rate: setting 120/min, achieved {achieved:.1f}/min over {len(times)} requests, "
        f"429s {fake.count(429)}, tokens/min {stats.tokens_per_min:.0f}"
    )
    assert fake.count(429) == 0
    assert abs(achieved - 120) <= 0.05 * 120
    assert stats.outcomes["done"] == 30
    assert not dead
    result = json.loads((tmp_path / "v" / "p000_ocr.json").read_text())
    assert result["full_text"] == "HELLO THERE\nBYE NOW"
    assert result["usage"]["total_tokens"] == 1020
    assert result["engine"]["model"] == "qwen/qwen2.5-vl-72b-instruct"
    assert stats.vlm_tokens == 30 * 1020
    assert KEY not in "".join(p.read_text() for p in tmp_path.rglob("*.json"))


async def test_a_429_storm_never_dead_letters_a_healthy_page(
    queue_address: str, dispatcher: Any, sample_pages: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", KEY)
    # 0.7: a page is throttled past its one in-worker retry with p = 0.49, so none of 16 is with
    # p = 0.51**16 ~ 2e-5 (at 0.5 that was 0.75**16 ~ 1%: a flaky "retry > 0").
    fake = FakeVLM(storm=0.7, api_key=KEY)
    with ServerThread(fake) as server:
        stats, dead = await run(
            queue_address,
            dispatcher,
            server,
            tmp_path,
            pages(sample_pages, 16),
            vlm_requests_per_min=600,
            vlm_max_concurrent=4,
            max_attempts=1,
            engine_options={"max_side": 400, "max_retries": 1, "max_wait_s": 0.5},
        )
    print(
        f"vlm/429-storm: pages 16, requests {len(fake.log)}, 429s {fake.count(429)}, "
        f"re-sent as throttled {stats.outcomes['retry']}, done {stats.outcomes['done']}, dead {len(dead)}"
    )
    assert fake.count(429) > 0
    assert stats.outcomes["retry"] > 0  # some pages stayed throttled past the worker's retries...
    assert stats.outcomes["done"] == 16  # ...and still every page has its result,
    assert not dead  # with max_attempts=1: throttling never counted as a failed attempt
    assert len(list(tmp_path.rglob("*_ocr.json"))) == 16


def test_the_run_summary_counts_every_request_the_server_received(sample_pages: Path, tmp_path: Path) -> None:
    shutil.copy(sample_pages / "page_001.png", tmp_path)
    rows = "".join(f"v/p{i},page_001.png\n" for i in range(4))
    (tmp_path / "m.csv").write_text("canonical_id,absolute_image_path\n" + rows)
    # Server errors, an empty and an unusable answer (both billed), throttling, then answers.
    fake = FakeVLM(script={"*": [500, 500, "empty", 429, "garbage", 500, 429]})
    with ServerThread(fake) as server:
        env = {
            **os.environ,
            "COMICOCR_VLM_BASE_URL": server.base_url,
            "COMICOCR_ENGINE_OPTIONS": json.dumps({"max_side": 400, "max_retries": 1, "max_wait_s": 0.1}),
            "COMICOCR_VLM_REQUESTS_PER_MIN": "600",
            "COMICOCR_MAX_ATTEMPTS": "10",  # 7 scripted failures at most: no page runs out
            "COMICOCR_BACKOFF_BASE_S": "0",
        }
        ran = comicocr(
            "run", "--manifest", "m.csv", "--output", "out", "--method", "qwen", cwd=tmp_path, env=env
        )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    said = re.search(
        r"vlm: (\d+) requests \((\d+) answered with a result, (\d+) without\), (\d+) tokens", ran.stdout
    )
    assert said, ran.stdout
    requests, answered, without, tokens = map(int, said.groups())
    assert requests == len(fake.log) == 7 + 4  # every scripted reply, then one answer a page
    assert (answered, without) == (4, requests - 4)
    assert tokens == 1020 * fake.count(200) == 1020 * (4 + 2)  # the empty and garbage answers too
