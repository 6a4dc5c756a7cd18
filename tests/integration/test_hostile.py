"""Hostile and broken input through the real queue and workers: each page ends in the DLQ with
its reason; nothing is written outside the output root; no secret reaches the DLQ. The same
corpus goes through SQS (LocalStack) and the embedded queue."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from comicocr.consumer import Consumer
from comicocr.engines import CATALOG
from comicocr.lithops_adapter import LithopsDispatcher
from comicocr.queues import Queue, open_queue
from comicocr.queues.base import Outgoing
from comicocr.settings import Settings

pytestmark = pytest.mark.integration
SECRET = "sk-or-v1-0123456789abcdef0123456789abcdef"


def _png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (width, height), 255).save(buf, "PNG")
    return buf.getvalue()


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (300, 300), "white").save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture(params=["sqs", "embedded"])
def address(request: pytest.FixtureRequest, queue_address: str, tmp_path: Path) -> str:
    return queue_address if request.param == "sqs" else f"sqlite:///{tmp_path}/queue.sqlite3"


async def test_every_bad_page_is_dead_lettered_with_its_reason(
    address: str, dispatcher: LithopsDispatcher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", SECRET)
    root, out = tmp_path / "comics", tmp_path / "out"
    root.mkdir()
    (root / "ok.png").write_bytes(_png(64, 64))
    (root / "zero.png").write_bytes(b"")
    (root / "text.png").write_bytes(b"this is not an image at all")
    (root / "truncated.jpg").write_bytes(_jpeg()[:400])
    (root / "bomb.png").write_bytes(_png(6000, 6000))  # 36 Mpx of white compresses to a few KiB
    (root / "huge.png").write_bytes(_png(64, 64) + b"\0" * 300_000)
    (tmp_path / "outside.png").write_bytes(_png(64, 64))
    (root / "link.png").symlink_to(tmp_path / "outside.png")

    def page(cid: str, path: str) -> str:
        return json.dumps({"canonical_id": cid, "image_path": path})

    expected = {
        "ok": None,
        "zero": "empty (0 bytes)",
        "text": "not a supported image",
        "truncated": "corrupt or truncated",
        "bomb": "decompression bomb",
        "huge": "larger than 200000 bytes",
        "outside": "outside the allowed roots",
        "link": "outside the allowed roots",
        "web": "http(s) image paths are refused",
        "secret": "image not found",
    }
    bodies = [page(cid, str(root / f"{cid}.png")) for cid in ("ok", "zero", "text", "bomb", "huge", "link")]
    bodies += [
        page("truncated", str(root / "truncated.jpg")),
        page("outside", str(tmp_path / "outside.png")),
        page("web", "https://example.com/page.png"),
        page("secret", str(root / f"{SECRET}.png")),
        page("../../escape", str(root / "ok.png")),  # unsafe id: poison
        json.dumps(
            {"canonical_id": "aim", "image_path": str(root / "ok.png"), "output": str(tmp_path / "elsewhere")}
        ),
        json.dumps(
            {"canonical_id": "aim-s3", "image_path": str(root / "ok.png"), "output": "s3://another-bucket/x"}
        ),
        json.dumps(
            {
                "canonical_id": "aim-engine",
                "image_path": str(root / "ok.png"),
                "method": "fault_flaky",
                "options": {"state_dir": "/tmp"},
            }
        ),
        "{this is not json",
        json.dumps({"canonical_id": "x", "image_path": "a.png", "oops": 1}),
        json.dumps({"canonical_id": "big", "image_path": "a" * 70_000}),  # oversized message
    ]
    queue: Queue = open_queue(address)
    await queue.ensure()
    for start in range(0, len(bodies), 10):
        assert (await queue.send_batch([Outgoing(b) for b in bodies[start : start + 10]])).failed == []

    s = Settings(
        queue=address,
        output=str(out),
        method="null",
        workers=2,
        batch_window_s=0.3,
        poll_wait_s=1,
        allowed_roots=[str(root)],
        max_image_bytes=200_000,
        max_attempts=1,
        max_image_pixels=20_000_000,
    )  # 36 Mpx is then a bomb
    stats = await Consumer(queue, dispatcher, s, engines=CATALOG, until_idle=True).run()

    assert stats.outcomes["done"] == 1
    dead = {}
    while batch := await queue.dead_letters.receive(10, 0, 60):
        for m in batch:
            body_id = json.loads(m.body).get("canonical_id") if m.body.startswith('{"') else None
            dead[body_id or m.body[:20]] = (
                m.attributes["comicocr-error-class"],
                m.attributes["comicocr-error"],
            )
    assert len(dead) == len(bodies) - 1
    for cid, reason in expected.items():
        if reason:
            assert dead[cid][0] == "permanent", (cid, dead[cid])
            assert reason in dead[cid][1], (cid, dead[cid])
    assert dead["../../escape"][0] == "poison"
    for aimed in ("aim", "aim-s3", "aim-engine"):
        assert dead[aimed][0] == "poison", (aimed, dead[aimed])
    assert not (tmp_path / "elsewhere").exists()
    assert dead["{this is not json"][0] == "poison"
    assert "oops" in dead["x"][1]
    assert "larger than" in dead["big"][1]
    assert all(SECRET not in cls + reason for cls, reason in dead.values())
    assert "***" in dead["secret"][1]
    written = [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.suffix == ".json"]
    assert written == ["out/ok_ocr.json"]
    await queue.close()
