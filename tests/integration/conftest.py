"""Integration fixtures: the real SQS/S3-compatible server on 127.0.0.1 (LocalStack, started
by scripts/test or here), the real Lithops localhost executor, real engines."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENDPOINT = os.environ.get("COMICOCR_TEST_SQS_ENDPOINT", "http://127.0.0.1:4566")

# Standard AWS variables only: the code under test needs no hooks. Lithops workers inherit them.
os.environ.update(
    AWS_ENDPOINT_URL=ENDPOINT,
    AWS_REGION="us-east-1",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_ACCESS_KEY_ID="test",
    AWS_SECRET_ACCESS_KEY="test",
    COMICOCR_FAULT_ENGINES="1",  # the fault-injection engines, for the chaos tests
)

# The object-store emulators (scripts/emulators), through each SDK's standard variables:
# Azurite's well-known development account (published by Microsoft, not a secret) and
# STORAGE_EMULATOR_HOST, which google-cloud-storage honours anonymously.
AZURE_ENDPOINT = os.environ.get("COMICOCR_TEST_AZURE_ENDPOINT", "http://127.0.0.1:10000/devstoreaccount1")
GCS_ENDPOINT = os.environ.get("COMICOCR_TEST_GCS_ENDPOINT", "http://127.0.0.1:4443")
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
os.environ.update(
    AZURE_STORAGE_CONNECTION_STRING=(
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
        f"BlobEndpoint={AZURE_ENDPOINT};"
    ),
    STORAGE_EMULATOR_HOST=GCS_ENDPOINT,
)


def _healthy() -> bool:
    try:
        with urllib.request.urlopen(f"{ENDPOINT}/_localstack/health", timeout=2) as resp:
            return b'"sqs"' in resp.read()
    except OSError:
        return False


@pytest.fixture(scope="session", autouse=True)
def sqs_server() -> str:
    """The server must be there: integration tests never fall back to fakes."""
    if not _healthy():
        started = subprocess.run(
            [str(ROOT / "scripts" / "localstack"), "start"], check=False, capture_output=True, text=True
        )
        if started.returncode != 0 or not _healthy():
            pytest.fail(f"no SQS-compatible server at {ENDPOINT}; run scripts/test. {started.stderr[-500:]}")
    return ENDPOINT


@pytest.fixture
def queue_address() -> str:
    """A fresh queue per test (LocalStack has no reset): sqs://NAME, created on ensure()."""
    return f"sqs://t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def bucket() -> str:
    import boto3

    name = f"t-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def dispatcher() -> Iterator[object]:
    """One long-lived Lithops localhost executor for the session, as the consumer keeps one."""
    from comicocr.lithops_adapter import LithopsDispatcher, load_config

    d = LithopsDispatcher(load_config(ROOT / "lithops.yaml", workers=2))
    yield d
    d.close()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The Redis that shared VLM budgets live in: scripts/test's (COMICOCR_TEST_REDIS_URL), or
    one started here (scripts/redis) and stopped after the session. Tests share it: each uses
    budget names of its own."""
    import redis

    url = os.environ.get("COMICOCR_TEST_REDIS_URL", "redis://127.0.0.1:6390/0")
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=2) as probe:
            probe.ping()
        yield url  # someone else's (scripts/test, another session): theirs to stop
        return
    except redis.RedisError:
        if "COMICOCR_TEST_REDIS_URL" in os.environ:
            pytest.fail(f"COMICOCR_TEST_REDIS_URL={url} does not answer")
    script = str(ROOT / "scripts" / "redis")
    started = subprocess.run([script, "start"], check=False, capture_output=True, text=True)
    if started.returncode != 0:
        pytest.fail(f"no Redis on 127.0.0.1; run scripts/setup --dev. {started.stderr[-500:]}")
    yield started.stdout.strip()
    subprocess.run([script, "stop"], check=False, capture_output=True)


COMICOCR = str(Path(sys.executable).with_name("comicocr"))


def comicocr(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it, in a subprocess; its exit code is the caller's to check."""
    return subprocess.run(
        [COMICOCR, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240, check=False
    )


def _answers(url: str) -> bool:
    """Any HTTP answer, an error status included, means the server is up."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _emulator(name: str, url: str) -> str:
    """An emulator that must be there in CI (scripts/test starts it); here it is started if
    it can be, and its tests skip when it cannot (no scripts/setup --dev yet)."""
    if not _answers(url):
        started = subprocess.run(
            [str(ROOT / "scripts" / "emulators"), "start", name], check=False, capture_output=True, text=True
        )
        if started.returncode != 0 or not _answers(url):
            why = f"no {name} emulator at {url}; run scripts/test. {started.stderr[-500:]}"
            if os.environ.get("CI"):
                pytest.fail(why)
            pytest.skip(why)
    return url


@pytest.fixture(scope="session")
def azurite() -> str:
    return _emulator("azurite", AZURE_ENDPOINT)


@pytest.fixture(scope="session")
def gcs_emulator() -> str:
    return _emulator("gcs", f"{GCS_ENDPOINT}/storage/v1/b")
