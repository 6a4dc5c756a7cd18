"""The whole pipeline on real parts: SQS server -> consumer -> Lithops localhost -> engine -> results."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from rapidfuzz.distance import Levenshtein

from comicocr.consumer import Consumer
from comicocr.engines import CATALOG
from comicocr.manifest import read_manifest
from comicocr.messages import PageMessage
from comicocr.producer import enqueue_pages
from comicocr.queues.sqs import SQSQueue
from comicocr.settings import Settings

pytestmark = pytest.mark.integration


def cer(got: str, want: str) -> float:
    norm = lambda s: " ".join(s.split())  # noqa: E731 - line breaks are layout, not text
    return Levenshtein.normalized_distance(norm(got), norm(want))


def settings(queue: str, output: str, **kw: Any) -> Settings:
    return Settings(queue=queue, output=output, workers=2, batch_window_s=0.5, poll_wait_s=1, **kw)


async def consume(queue: SQSQueue, dispatcher: Any, s: Settings) -> Any:
    return await Consumer(queue, dispatcher, s, engines=CATALOG, until_idle=True).run()


async def test_manifest_through_sqs_and_lithops_with_tesseract(
    queue_address: str, dispatcher: Any, sample_pages: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "manifest.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["canonical_id", "absolute_image_path"])
        for i in (1, 2, 3):
            writer.writerow([f"Series/issue01/page_{i:03d}", f"page_{i:03d}.png"])
        writer.writerow(["Series/issue01/missing", "missing.png"])
    rows = read_manifest(manifest, image_path_prefix=str(sample_pages)).rows
    s = settings(queue_address, str(tmp_path / "out"), method="tesseract")
    queue = SQSQueue(queue_address)
    await queue.ensure()
    report = await enqueue_pages(
        queue, [PageMessage(canonical_id=r.canonical_id, image_path=r.image_path) for r in rows]
    )
    assert (report.sent, report.failed) == (4, [])

    stats = await consume(queue, dispatcher, s)

    assert stats.outcomes["done"] == 3
    for i in (1, 2, 3):
        result = json.loads((tmp_path / "out" / "Series" / "issue01" / f"page_{i:03d}_ocr.json").read_text())
        want = json.loads((sample_pages / f"page_{i:03d}.truth.json").read_text())["full_text"]
        assert cer(result["full_text"], want) < 0.1, (result["full_text"], want)
        assert result["num_regions"] == len(result["text_regions"]) > 0
        assert result["engine"]["engine"] == "tesseract"
        assert all(0 <= r["confidence"] <= 1 and len(r["bbox"]) == 4 for r in result["text_regions"])
    # the missing page is dead-lettered with its reason, not lost and not an empty success
    assert [(i, c) for i, c, _ in stats.dead] == [("Series/issue01/missing", "permanent")]
    dead = await queue.dead_letters.receive(10, 0, 30)
    assert json.loads(dead[0].body)["canonical_id"] == "Series/issue01/missing"
    assert dead[0].attributes["comicocr-error-class"] == "permanent"
    assert "image not found" in dead[0].attributes["comicocr-error"]
    assert dead[0].attributes["comicocr-engine"] == "tesseract"
    assert (await queue.depths()).pending == 0
    await queue.close()


async def test_s3_event_in_s3_results_out(
    queue_address: str, bucket: str, dispatcher: Any, sample_pages: Path
) -> None:
    s3 = boto3.client("s3")
    s3.upload_file(str(sample_pages / "page_002.png"), bucket, "incoming/Vol 1/page 2.png")
    event = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": bucket}, "object": {"key": "incoming/Vol+1/page+2.png"}},
            }
        ]
    }
    queue = SQSQueue(queue_address)
    await queue.ensure()
    from comicocr.queues.base import Outgoing

    await queue.send_batch([Outgoing(json.dumps(event))])
    stats = await consume(
        queue, dispatcher, settings(queue_address, f"s3://{bucket}/results", method="tesseract")
    )
    assert stats.outcomes["done"] == 1, stats
    # one object, one page: the id is <bucket>/<key>, extension kept
    key = f"results/{bucket}/incoming/Vol 1/page 2.png_ocr.json"
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    result = json.loads(body)
    assert result["source_image_path"] == f"s3://{bucket}/incoming/Vol 1/page 2.png"
    want = json.loads((sample_pages / "page_002.truth.json").read_text())["full_text"]
    assert cer(result["full_text"], want) < 0.1
    await queue.close()


async def test_paddleocr_engine_reads_the_page(
    queue_address: str, dispatcher: Any, sample_pages: Path, tmp_path: Path
) -> None:
    queue = SQSQueue(queue_address)
    await queue.ensure()
    await enqueue_pages(
        queue, [PageMessage(canonical_id="p1", image_path=str(sample_pages / "page_001.png"))]
    )
    stats = await consume(queue, dispatcher, settings(queue_address, str(tmp_path), method="paddleocr"))
    assert stats.outcomes["done"] == 1, stats
    result = json.loads((tmp_path / "p1_ocr.json").read_text())
    want = json.loads((sample_pages / "page_001.truth.json").read_text())["full_text"]
    assert cer(result["full_text"], want) < 0.05, (result["full_text"], want)
    assert result["engine"]["model"] == "PP-OCRv6_small"
    await queue.close()
