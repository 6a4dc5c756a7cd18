"""az:// and gs:// addresses, and what happens where their SDK is not installed: one
ConfigError line naming the extra, never an ImportError, and nothing written elsewhere."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from comicocr import storage
from comicocr.errors import ConfigError, PermanentError
from comicocr.locations import output_problem, within
from comicocr.redact import redact
from comicocr.settings import Settings
from comicocr.storage import objects


@pytest.mark.parametrize(
    ("uri", "parts"),
    [
        ("az://comics/vol 1/p1.png", ("az", "comics", "vol 1/p1.png")),
        ("gs://comics/a/b/p1.png", ("gs", "comics", "a/b/p1.png")),
        ("GS://comics/p1.png", ("gs", "comics", "p1.png")),
        ("az://comics", ("az", "comics", "")),
    ],
)
def test_object_addresses_come_apart_into_store_bucket_and_key(uri: str, parts: tuple[str, str, str]) -> None:
    path = objects.object_path(uri)
    assert (path.scheme, path.bucket, path.key) == parts


@pytest.mark.parametrize(
    ("output", "says"),
    [
        ("az://", "names no container"),
        ("gs:///ocr", "names no bucket"),
        ("az://c/ocr/../other", "segment"),
        ("gs://b/./ocr", "segment"),
        ("abfs://c@acct.dfs.core.windows.net/ocr", "not served"),
        ("gcs://b/ocr", "not served"),
    ],
)
def test_unusable_object_outputs_are_refused_by_settings(output: str, says: str) -> None:
    assert says in (output_problem(output) or "")
    with pytest.raises(ValueError, match=says):
        Settings(output=output, method="null")


def test_served_object_outputs_and_their_result_keys() -> None:
    for root in ("az://c", "az://c/ocr/", "gs://b/ocr"):
        assert output_problem(root) is None
        assert Settings(output=root, method="null").output == root
    assert storage.result_location("az://c", "S/i1/p1") == "az://c/S/i1/p1_ocr.json"
    assert storage.result_location("gs://b/ocr/", "p1") == "gs://b/ocr/p1_ocr.json"
    assert within("gs://b/ocr/tenant", "gs://b/ocr")
    assert not within("gs://b/ocr", "az://b/ocr")  # same names, another store


@pytest.fixture
def no_sdks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As on a machine without the azure and gcs extras: their imports fail."""
    for module in ("azure.storage.blob", "google.cloud.storage"):
        monkeypatch.setitem(sys.modules, module, None)  # import -> ImportError
    objects.store_for.cache_clear()
    yield
    objects.store_for.cache_clear()


@pytest.mark.usefixtures("no_sdks")
@pytest.mark.parametrize(("root", "package"), [("az://c/ocr", "azure"), ("gs://b/ocr", "gcs")])
def test_a_missing_sdk_is_one_config_line_naming_the_extra(root: str, package: str, tmp_path: Path) -> None:
    fix = f"pip install 'comicocr[{package}]'"
    with pytest.raises(ConfigError, match=f"needs the .* package: {fix}".replace("[", r"\[")):
        storage.check_store(root)
    with pytest.raises(ConfigError) as refused:
        storage.probe_writable(root)
    assert str(refused.value).startswith(f"results cannot be written to {root}: ")
    assert fix in str(refused.value)
    assert "\n" not in str(refused.value)
    with pytest.raises(ConfigError, match="pip install"):  # "not done" for every page would be a lie
        storage.existing_results(root, [f"v/p{i}" for i in range(30)])
    storage.check_store(str(tmp_path))  # a folder needs no SDK
    storage.check_store("s3://b/ocr")  # boto3 is a core dependency


def test_an_image_in_a_store_without_its_sdk_fails_with_the_fix_not_an_import_error(no_sdks: None) -> None:
    with pytest.raises(ConfigError, match=r"pip install 'comicocr\[gcs\]'"):
        storage.read_bytes("gs://b/p1.png", 1 << 20)


def test_unsafe_object_image_paths_never_reach_a_store(no_sdks: None) -> None:
    # refused on the address alone: no SDK is even looked for
    for path in ("az://c/a/../b.png", "gs://b/./x.png", "gs:///x.png"):
        with pytest.raises(PermanentError, match=r"segment|names no"):
            storage.check_allowed(path, [])


def test_azure_connection_strings_and_signatures_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seQ=="
    text = f"AccountName=a;AccountKey={key};EndpointSuffix=x https://a.blob/c/b?sv=1&sig=S1GnatureXYZ%3D&se=2"
    assert key not in redact(text)
    assert "S1GnatureXYZ" not in redact(text)
    assert "AccountName=a" in redact(text)
    connection = "BlobEndpoint=https://a.blob;SharedAccessSignature=sv=1&sig=abc"
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection)
    assert connection not in redact(f"failed with {connection}")


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("ConditionalRequestConflict", 409, "RetryableError"),  # two conditional PUTs raced: retry
        ("OperationAborted", 409, "RetryableError"),
        ("ExpiredToken", 400, "RetryableError"),
        ("SlowDown", 503, "RetryableError"),
        ("TooManyRequests", 429, "RetryableError"),
        ("NoSuchBucket", 404, "PermanentError"),
        ("AccessDenied", 403, "PermanentError"),
        ("InvalidArgument", 400, "PermanentError"),
        ("InternalError", 500, "RetryableError"),
    ],
)
def test_s3_errors_are_classified_as_s3_says(code: str, status: int, kind: str) -> None:
    from botocore.exceptions import ClientError

    from comicocr.storage.s3 import STORE

    exc = ClientError(
        {
            "Error": {"Code": code, "Message": "secret-ish text"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "PutObject",
    )
    mapped = STORE.error(exc, "cannot write result")
    assert type(mapped).__name__ == kind
    assert "secret-ish" not in str(mapped)
