"""Operating the consumer: one log line per page, the metrics endpoint, progress, logs routing."""

import asyncio
import io
import itertools
import json
import logging
import re
from pathlib import Path

import aiohttp
import pytest
import structlog
from structlog.testing import capture_logs

from comicocr import logs
from comicocr.consumer import Consumer
from comicocr.consumer.endpoint import serve
from comicocr.engines import CATALOG
from comicocr.progress import Progress
from comicocr.queues.base import Outgoing
from comicocr.queues.local import LocalQueue

from .test_consumer import InProcess, settings


def _bodies(sample_pages: Path, n: int, tmp_path: Path) -> list[Outgoing]:
    pages = [
        Outgoing(json.dumps({"canonical_id": f"p{i}", "image_path": str(sample_pages / "page_001.png")}))
        for i in range(n)
    ]
    return [*pages, Outgoing(json.dumps({"canonical_id": "gone", "image_path": str(tmp_path / "no.png")}))]


async def test_one_log_line_per_page_with_its_batch_engine_and_duration(
    tmp_path: Path, sample_pages: Path
) -> None:
    s = settings(tmp_path)
    queue = LocalQueue(s.queue_address)
    await queue.send_batch(_bodies(sample_pages, 3, tmp_path))
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as events:
        await Consumer(queue, InProcess(), s, engines=CATALOG, until_idle=True).run()
    await queue.close()
    done = [e for e in events if e["event"] == "page.done"]
    assert sorted(e["canonical_id"] for e in done) == ["p0", "p1", "p2"]
    assert all(e["engine"] == "null" and e["duration_s"] >= 0 and e["batch_id"] >= 1 for e in done)
    dead = [e for e in events if e["event"] == "page.dead_lettered"]
    assert [(e["canonical_id"], e["error_class"]) for e in dead] == [("gone", "permanent")]
    assert dead[0]["batch_id"] >= 1
    assert "image not found" in dead[0]["reason"]


async def test_metrics_endpoint_counts_pages_while_the_consumer_runs(
    tmp_path: Path, sample_pages: Path
) -> None:
    s = settings(tmp_path, poll_wait_s=0.2)
    queue = LocalQueue(s.queue_address)
    await queue.send_batch(_bodies(sample_pages, 4, tmp_path))
    consumer = Consumer(queue, InProcess(), s, engines=CATALOG, until_idle=False)
    async with serve(consumer, "127.0.0.1", 0) as url, aiohttp.ClientSession() as http:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        assert not url.endswith(":0")
        running = asyncio.create_task(consumer.run())

        async def metric(name: str) -> float:
            async with http.get(f"{url}/metrics") as resp:
                assert resp.status == 200
                assert resp.content_type == "text/plain"
                text = await resp.text()
            found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
            return float(found.group(1)) if found else 0.0

        done = 'comicocr_pages_total{engine="null",outcome="done"}'
        before = await metric(done)
        for _ in range(100):
            if await metric(done) == 4:
                break
            await asyncio.sleep(0.1)
        assert before < 4 == await metric(done)
        assert await metric('comicocr_pages_total{engine="null",outcome="dead_lettered"}') == 1
        assert await metric("comicocr_page_latency_seconds_count") == 5
        assert await metric("comicocr_batch_duration_seconds_count") >= 1
        # The queue's numbers are asked at most every few seconds: wait out the cache.
        await asyncio.sleep(5.1)
        assert await metric('comicocr_queue_messages{state="dead_lettered"}') == 1
        assert await metric('comicocr_queue_messages{state="visible"}') == 0
        async with http.get(f"{url}/healthz") as resp:
            assert resp.status == 200
            assert (await resp.json())["status"] == "ok"
        async with http.get(f"{url}/readyz") as resp:
            assert resp.status == 200
        consumer.stop()
        async with http.get(f"{url}/readyz") as resp:
            assert resp.status == 503
            assert (await resp.json())["status"] == "stopping"
        await running
    await queue.close()


async def test_readyz_says_when_the_queue_cannot_answer(tmp_path: Path) -> None:
    s = settings(tmp_path)
    queue = LocalQueue(s.queue_address)
    consumer = Consumer(queue, InProcess(), s, engines=CATALOG)
    (tmp_path / "q.sqlite3").write_bytes(b"not a database" * 100)  # the queue file is damaged
    async with (
        serve(consumer, "127.0.0.1", 0) as url,
        aiohttp.ClientSession() as http,
        http.get(f"{url}/readyz") as resp,
    ):
        body = await resp.json()
    assert resp.status == 503
    assert body["status"] == "queue unreachable"
    assert body["error"]
    await queue.close()


async def test_a_busy_port_is_one_clear_error(tmp_path: Path) -> None:
    from comicocr.errors import ConfigError

    s = settings(tmp_path)
    queue = LocalQueue(s.queue_address)
    consumer = Consumer(queue, InProcess(), s, engines=CATALOG)
    async with serve(consumer, "127.0.0.1", 0) as url:
        port = int(url.rsplit(":", 1)[1])
        with pytest.raises(ConfigError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            async with serve(consumer, "127.0.0.1", port):
                pass
    await queue.close()


async def test_progress_lines_off_a_terminal() -> None:
    state = [0, 0]
    with capture_logs() as events:
        shown = asyncio.create_task(
            Progress("ocr", 10, every_s=0.05, bar=False).follow(lambda: (state[0], 1))
        )
        for done in (2, 5, 9):
            state[0] = done
            await asyncio.sleep(0.08)
        shown.cancel()
        with pytest.raises(asyncio.CancelledError):
            await shown
    lines = [e for e in events if e["event"] == "progress"]
    assert len(lines) >= 3
    assert lines[-1]["done"] == 9
    assert lines[-1]["dead"] == 1
    assert lines[-1]["total"] == 10
    assert lines[-1]["eta_s"] is None or lines[-1]["eta_s"] >= 0
    assert all(a["done"] <= b["done"] for a, b in itertools.pairwise(lines))


async def test_progress_bar_draws_done_of_total(capsys: pytest.CaptureFixture[str]) -> None:
    shown = asyncio.create_task(Progress("ocr", 7, bar=True).follow(lambda: (5, 2)))
    await asyncio.sleep(0.1)
    shown.cancel()
    with pytest.raises(asyncio.CancelledError):
        await shown
    err = capsys.readouterr().err
    assert "7/7" in err
    assert "dead 2" in err


def test_library_logs_go_through_the_same_renderer_and_lose_their_secrets() -> None:
    out = io.StringIO()
    try:
        logs.configure(stream=out)
        lithops = logging.getLogger("lithops.invokers")
        lithops.addHandler(logging.StreamHandler(io.StringIO()))  # as Lithops' own set-up would
        logs.configure(stream=out)  # ...and ours, later, takes it back
        lithops.warning("job failed calling https://api.example/v1?key=sk-or-v1-%s", "a" * 40)
        lithops.info("below the library threshold: not shown")
        structlog.get_logger("comicocr.test").info("page.done", canonical_id="p1")
    finally:
        logs.configure()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["event"].split(" ")[0] for line in lines] == ["job", "page.done"]
    assert lines[0]["logger"] == "lithops.invokers"
    assert lines[0]["level"] == "warning"
    assert "sk-or-v1-" + "a" * 40 not in out.getvalue()


def test_tracebacks_lose_their_secrets_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_API_KEY", "supersecretvalue123")
    out = io.StringIO()
    try:
        logs.configure(stream=out)
        try:
            raise RuntimeError("failed with supersecretvalue123")
        except RuntimeError:
            structlog.get_logger("comicocr.test").exception("batch.failed")
            logging.getLogger("botocore.endpoint").exception("request failed")
    finally:
        logs.configure()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["batch.failed", "request failed"]
    assert all("RuntimeError: failed with ***" in line["exception"] for line in lines)
    assert "supersecretvalue123" not in out.getvalue()
