"""Skip-if-done against real S3 (LocalStack): which pages have a result, exactly, with listings
that follow the ids asked rather than everything the prefix holds."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from comicocr import storage
from comicocr.storage import done
from comicocr.storage import s3 as s3_store

HELD = 1300  # results in the prefix: more than one listing page (1,000 keys)


@pytest.fixture
def output(bucket: str) -> str:
    s3 = boto3.client("s3")
    keys = [f"out/vol/p{i:04d}_ocr.json" for i in range(HELD)]
    keys += ["out/vol/sub/p0001_ocr.json", "out/vol/p0001_ocr.json.part", "out/vol/readme.txt"]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b"{}"), keys))
    return f"s3://{bucket}/out"


@pytest.fixture
def list_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The ListObjectsV2 calls storage makes, seen through botocore's own event hooks."""
    calls: list[dict[str, Any]] = []
    real: Callable[[], Any] = s3_store.client

    def watched() -> Any:
        client = real()
        client.meta.events.register(
            "provide-client-params.s3.ListObjectsV2", lambda params, **_: calls.append(dict(params))
        )
        return client

    monkeypatch.setattr(s3_store, "client", watched)
    return calls


def test_a_block_of_ids_lists_only_its_own_range(output: str, list_calls: list[dict[str, Any]]) -> None:
    asked = [f"vol/p{i:04d}" for i in range(500, 600)] + [f"vol/p{i:04d}" for i in range(1300, 1310)]
    assert storage.existing_results(output, asked) == set(asked[:100])
    # one page starting at the first name asked, not the 1,300 keys from the prefix's start
    assert len(list_calls) == 1
    assert list_calls[0]["StartAfter"] < "out/vol/p0500_ocr.json" < list_calls[0]["StartAfter"] + "~"


def test_past_the_listing_budget_the_rest_is_asked_one_by_one_and_still_exact(
    output: str, list_calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(done, "_KEYS_PER_ID", 0)  # budget: one page of 1,000 keys
    asked = [f"vol/p{i:04d}" for i in range(0, 1400, 10)] + ["vol/sub/p0001", "vol/p0001", "vol/zzz"]
    there = {f"vol/p{i:04d}" for i in range(0, HELD, 10)} | {"vol/sub/p0001", "vol/p0001"}
    assert storage.existing_results(output, asked) == there
    assert len([c for c in list_calls if c["Prefix"] == "out/vol/"]) == 1  # then HEADs, not a 2nd page
