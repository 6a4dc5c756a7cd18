"""Integration fixtures: the real SQS/S3-compatible server on 127.0.0.1 (LocalStack, started
by scripts/test or here), the real Lithops localhost executor, real engines."""

from __future__ import annotations

import os
import subprocess
import sys
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


COMICOCR = str(Path(sys.executable).with_name("comicocr"))


def comicocr(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it, in a subprocess; its exit code is the caller's to check."""
    return subprocess.run(
        [COMICOCR, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240, check=False
    )
