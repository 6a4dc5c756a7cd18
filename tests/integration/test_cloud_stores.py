"""Azure Blob (az://) and Google Cloud Storage (gs://) on real emulators: Azurite and
fake-gcs-server (scripts/emulators). Every storage contract S3 keeps, through each SDK:
conditional atomic writes, exact skip-if-done by listing, the byte cap before download,
missing images, the probe, allowed roots and unsafe keys."""

from __future__ import annotations

import io
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from comicocr import storage
from comicocr.errors import ConfigError, PermanentError
from comicocr.settings import Settings
from comicocr.storage import done, objects

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cloud_buckets import SCHEMES, Bucket, make_bucket

pytestmark = pytest.mark.integration


@pytest.fixture(params=SCHEMES)
def bucket(request: pytest.FixtureRequest) -> Bucket:
    """Each test runs once on Azurite and once on fake-gcs-server."""
    request.getfixturevalue("azurite" if request.param == "az" else "gcs_emulator")
    return make_bucket(request.param)


@pytest.fixture
def calls(bucket: Bucket, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every call the code under test makes to the store, as (method, key or prefix)."""
    seen: list[tuple[str, str]] = []
    store = objects.store_for(bucket.scheme)
    for method in ("size", "read", "write", "delete", "list_from"):
        real = getattr(store, method)

        def watched(*args: Any, _real: Any = real, _name: str = method, **kwargs: Any) -> Any:
            seen.append((_name, args[1]))
            return _real(*args, **kwargs)

        monkeypatch.setattr(store, method, watched)
    return seen


def png(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    Image.new("L", (width, height), 255).save(out, format="PNG")
    return out.getvalue()


# -- results: whole, conditional, exact skip-if-done ----------------------------------------


def test_a_result_is_written_whole_and_a_racing_second_write_keeps_the_first(bucket: Bucket) -> None:
    where = storage.result_location(f"{bucket.root}/ocr/", "Series/issue01/p1")
    assert where == f"{bucket.root}/ocr/Series/issue01/p1_ocr.json"
    assert storage.write_atomic(where, b'{"v": 1}', overwrite=False)
    assert storage.write_atomic(where, b'{"v": 2}', overwrite=False) is False  # the condition held
    assert bucket.get("ocr/Series/issue01/p1_ocr.json") == b'{"v": 1}'
    assert storage.write_atomic(where, b'{"v": 3}')  # a redelivery that may overwrite does
    assert bucket.get("ocr/Series/issue01/p1_ocr.json") == b'{"v": 3}'
    assert storage.exists(where)
    assert not storage.exists(f"{bucket.root}/ocr/Series/issue01/p2_ocr.json")
    assert bucket.keys() == ["ocr/Series/issue01/p1_ocr.json"]  # no temp object left anywhere


def test_existing_results_are_exact_and_a_big_folder_is_listed_not_asked_page_by_page(
    bucket: Bucket, calls: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    held = [f"vol/p{i:03d}" for i in range(0, 60, 2)] + ["small/p1", "deep/er/p1"]
    for cid in held:
        bucket.put(f"out/{cid}_ocr.json", b"{}")
    # what is no result of an asked id: deeper, a temp file, another name
    for decoy in ("out/vol/sub/p001_ocr.json", "out/vol/p001_ocr.json.part", "out/vol/readme.txt"):
        bucket.put(decoy, b"{}")
    monkeypatch.setattr(f"comicocr.storage.{objects._STORES[bucket.scheme][0]}._PAGE", 7)  # many pages
    asked = [f"vol/p{i:03d}" for i in range(10, 70)] + ["small/p1", "small/p2", "deep/er/p1", "deep/p1"]
    asked += ["../out/vol/p010", "vol/../vol/p010", "/vol/p010"]  # unsafe ids never reach the store

    found = storage.existing_results(f"{bucket.root}/out", asked)

    assert found == {f"vol/p{i:03d}" for i in range(10, 60, 2)} | {"small/p1", "deep/er/p1"}
    listings = [prefix for method, prefix in calls if method == "list_from"]
    assert listings == ["out/vol/"]  # 60 ids in one folder: listed from the first asked, in pages
    asked_one_by_one = sorted(key for method, key in calls if method == "size")
    assert asked_one_by_one == ["out/deep/er/p1_ocr.json", "out/deep/p1_ocr.json", "out/small/p1_ocr.json",
                                "out/small/p2_ocr.json"]  # fmt: skip
    assert not any(".." in key for _, key in calls)


def test_past_the_listing_budget_the_rest_is_asked_one_by_one_and_still_exact(
    bucket: Bucket, calls: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(0, 60, 3):
        bucket.put(f"out/v/p{i:03d}_ocr.json", b"{}")
    monkeypatch.setattr(f"comicocr.storage.{objects._STORES[bucket.scheme][0]}._PAGE", 10)
    monkeypatch.setattr(done, "_MIN_BUDGET", 10)
    monkeypatch.setattr(done, "_KEYS_PER_ID", 0)  # one page of 10 keys, then one request per id
    asked = [f"v/p{i:03d}" for i in range(60)]
    assert storage.existing_results(f"{bucket.root}/out/", asked) == {f"v/p{i:03d}" for i in range(0, 60, 3)}
    assert [m for m, _ in calls].count("list_from") == 1
    # the listing reached the 10th result (p027): what comes after it is asked one by one
    assert sorted(k for m, k in calls if m == "size") == [f"out/v/p{i:03d}_ocr.json" for i in range(28, 60)]


def test_listing_starts_at_the_first_name_asked(bucket: Bucket) -> None:
    for name in ("a/p1_ocr.json", "a/p2_ocr.json", "a/p3_ocr.json", "a/q/p9_ocr.json", "b/p1_ocr.json"):
        bucket.put(name, b"{}")
    store = objects.store_for(bucket.scheme)
    pages = list(store.list_from(bucket.name, "a/", "a/p2_ocr.json"))
    listed = sorted(k for page in pages for k in page)
    assert listed[:2] == ["a/p2_ocr.json", "a/p3_ocr.json"]
    assert set(listed) <= {"a/p1_ocr.json", "a/p2_ocr.json", "a/p3_ocr.json", "a/q/"}  # may start a bit early


# -- images: the byte cap before download, missing and empty objects -------------------------


def test_images_are_read_whole_and_one_over_the_cap_is_refused_before_download(
    bucket: Bucket, calls: list[tuple[str, str]]
) -> None:
    page = png()
    bucket.put("scans/vol 1/p#1.png", page)  # a space and a '#' in the key travel as they are
    assert storage.read_bytes(f"{bucket.root}/scans/vol 1/p#1.png", len(page)) == page
    calls.clear()
    with pytest.raises(PermanentError, match=f"larger than {len(page) - 1} bytes"):
        storage.read_bytes(f"{bucket.root}/scans/vol 1/p#1.png", len(page) - 1)
    assert [m for m, _ in calls] == ["size"]  # refused from its size: not a byte downloaded


def test_a_missing_image_or_container_is_permanent_and_an_empty_one_reads_empty(bucket: Bucket) -> None:
    with pytest.raises(PermanentError, match="image not found"):
        storage.read_bytes(f"{bucket.root}/nope.png", 1 << 20)
    with pytest.raises(PermanentError, match="image not found"):
        storage.read_bytes(f"{bucket.scheme}://no-such-{uuid.uuid4().hex[:8]}/p.png", 1 << 20)
    bucket.put("empty.png", b"")
    assert storage.read_bytes(f"{bucket.root}/empty.png", 1 << 20) == b""


# -- the probe, and addresses that must never reach a store ----------------------------------


def test_probe_writes_and_leaves_nothing_and_a_missing_container_is_one_config_line(bucket: Bucket) -> None:
    storage.probe_writable(f"{bucket.root}/ocr")
    assert bucket.keys() == []
    missing = f"{bucket.scheme}://no-such-{uuid.uuid4().hex[:8]}/ocr"
    with pytest.raises(ConfigError) as refused:
        storage.probe_writable(missing)
    message = str(refused.value)
    assert message.startswith(f"results cannot be written to {missing}: cannot write result: ")
    assert "\n" not in message
    assert "ContainerNotFound" in message or "404 NotFound" in message
    assert "AccountKey" not in message
    assert "Eby8" not in message


def test_unsafe_keys_and_unserved_schemes_are_refused_before_any_request(
    bucket: Bucket, calls: list[tuple[str, str]]
) -> None:
    root = bucket.root
    with pytest.raises(ValueError, match="canonical_id"):
        storage.result_location(f"{root}/ocr", "../../elsewhere/p1")
    for path in (f"{root}/a/../b.png", f"{root}/a/./b.png", f"{bucket.scheme}:///b.png"):
        with pytest.raises(PermanentError, match=r"'\.' or '\.\.' segment|names no"):
            storage.check_allowed(path, [])
        with pytest.raises(PermanentError, match=r"'\.' or '\.\.' segment|names no"):
            storage.read_bytes(path, 1 << 20)
    storage.check_allowed(f"{root}/a/p.png", [f"{root}/a"])
    other_store = "gs" if bucket.scheme == "az" else "az"
    for outside in (f"{root}/ab/p.png", f"{root}-evil/a/p.png", f"{other_store}://{bucket.name}/a/p.png"):
        with pytest.raises(PermanentError, match="outside the allowed roots"):
            storage.check_allowed(outside, [f"{root}/a"])
    for other in ("wasb", "wasbs", "abfs", "abfss", "gcs"):
        with pytest.raises(PermanentError, match="unsupported image URI scheme"):
            storage.check_allowed(f"{other}://{bucket.name}/a/p.png", [])
        with pytest.raises(ValueError, match="not served"):
            Settings(output=f"{other}://{bucket.name}/ocr", method="null")
    with pytest.raises(ValueError, match=r"'\.' or '\.\.' segment"):
        Settings(output=f"{root}/ocr/../elsewhere", method="null")
    assert calls == []


def test_a_wrong_account_key_is_permanent_and_never_quoted(
    azurite: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comicocr.storage import azure

    bad_key = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=" * 2
    connection = os.environ["AZURE_STORAGE_CONNECTION_STRING"].replace(
        os.environ["AZURE_STORAGE_CONNECTION_STRING"].split("AccountKey=")[1].split(";")[0], bad_key
    )
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection)
    azure.service.cache_clear()
    try:
        name = f"t-{uuid.uuid4().hex[:12]}"
        with pytest.raises(PermanentError) as refused:
            storage.read_bytes(f"az://{name}/p.png", 1 << 20)
        # Azurite says AuthorizationFailure where Azure says AuthenticationFailed: both 403
        assert str(refused.value).endswith(("AuthorizationFailure", "AuthenticationFailed")), refused.value
        assert bad_key not in str(refused.value)
        assert "AccountKey" not in str(refused.value)
    finally:
        azure.service.cache_clear()
