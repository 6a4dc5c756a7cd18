"""A queue that vanishes under a running consumer: its server restarts empty, or it is deleted.

``sqs://NAME`` is made again (with its dead-letter queue) and consuming goes on; a queue URL
is the operator's, never created here: the consumer stops with one clear line after
``COMICOCR_QUEUE_GONE_TIMEOUT_S``, and ``--until-idle`` ends. The restart uses a LocalStack of
this test's own, on another port, so the shared one is never disturbed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from .conftest import comicocr

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("comicocr"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OwnLocalStack:
    def __init__(self) -> None:
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "LOCALSTACK_PORT": str(self.port)}

    def start(self) -> None:
        done = subprocess.run(
            [str(ROOT / "scripts" / "localstack"), "start"],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-1000:]

    def stop(self) -> None:
        pid_file = ROOT / ".comicocr" / f"localstack-{self.port}" / "pid"
        pid = int(pid_file.read_text()) if pid_file.exists() else None
        subprocess.run([str(ROOT / "scripts" / "localstack"), "stop"], env=self.env, check=False)
        if pid is not None:  # wait until it is gone: a restart must come up empty
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
        shutil.rmtree(ROOT / ".comicocr" / f"localstack-{self.port}", ignore_errors=True)


@pytest.fixture
def own_localstack() -> Iterator[OwnLocalStack]:
    server = OwnLocalStack()
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Consumer:
    """`comicocr consume` in a subprocess, its stderr collected line by line."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [CLI, "consume", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stderr or []), daemon=True)
        self._reader.start()

    def wait_for(self, what: str, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(what in line for line in list(self.lines)):
                return
            assert self.proc.poll() is None, "".join(self.lines)[-3000:]
            time.sleep(0.2)
        raise AssertionError(f"no {what!r} in: {''.join(self.lines)[-3000:]}")

    def log(self) -> str:
        return "".join(self.lines)

    def end(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(timeout=60)
        self._reader.join(timeout=5)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe:
                pipe.close()


def _env(endpoint: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "AWS_ENDPOINT_URL": endpoint, "COMICOCR_POLL_WAIT_S": "1", **extra}


def _wait_results(out: Path, n: int, consumer: Consumer, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while len(list(out.rglob("*_ocr.json"))) < n:
        assert time.monotonic() < deadline, consumer.log()[-3000:]
        assert consumer.proc.poll() is None, consumer.log()[-3000:]
        time.sleep(0.3)


def _enqueue(queue: str, ids: list[str], image: Path, env: dict[str, str], cwd: Path) -> None:
    for cid in ids:
        sent = comicocr(
            "enqueue", "--queue", queue, "--canonical-id", cid, "--image", str(image), cwd=cwd, env=env
        )
        assert sent.returncode == 0, sent.stderr


def test_sqs_name_is_made_again_after_its_server_restarts_and_consuming_goes_on(
    tmp_path: Path, sample_pages: Path, own_localstack: OwnLocalStack
) -> None:
    queue, image = f"sqs://lost-{uuid.uuid4().hex[:8]}", sample_pages / "page_001.png"
    env = _env(own_localstack.endpoint)
    _enqueue(queue, ["before/p1", "before/p2"], image, env, tmp_path)
    args = ["--queue", queue, "--output", "out", "--method", "null", "--allow-root", str(sample_pages)]
    consumer = Consumer(args, tmp_path, env)
    try:
        _wait_results(tmp_path / "out", 2, consumer)
        own_localstack.stop()
        own_localstack.start()  # empty: no queue, no dead-letter queue
        consumer.wait_for('"queue.recreated"')
        sqs = boto3.client("sqs", endpoint_url=own_localstack.endpoint)
        names = {u.rsplit("/", 1)[1] for u in sqs.list_queues().get("QueueUrls", [])}
        name = queue.removeprefix("sqs://")
        assert {name, f"{name}-dlq"} <= names
        policy = sqs.get_queue_attributes(
            QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"], AttributeNames=["RedrivePolicy"]
        )["Attributes"]["RedrivePolicy"]
        assert json.loads(policy)["deadLetterTargetArn"].endswith(f":{name}-dlq")
        _enqueue(queue, ["after/p1", "after/p2"], image, env, tmp_path)
        _wait_results(tmp_path / "out", 4, consumer)
    finally:
        consumer.end(signal.SIGTERM)
    assert consumer.proc.returncode == 0, consumer.log()[-3000:]


def test_a_queue_url_deleted_before_the_consumer_is_idle_is_given_up(
    tmp_path: Path, sample_pages: Path, own_localstack: OwnLocalStack
) -> None:
    sqs = boto3.client("sqs", endpoint_url=own_localstack.endpoint)
    name = f"gone-{uuid.uuid4().hex[:8]}"
    sqs.create_queue(QueueName=f"{name}-dlq")
    sqs.create_queue(QueueName=name)
    url = f"{own_localstack.endpoint}/000000000000/{name}"  # LocalStack's own host may not resolve here
    env = _env(own_localstack.endpoint, COMICOCR_QUEUE_GONE_TIMEOUT_S="3")
    args = ["--queue", url, "--output", "out", "--method", "null"]
    consumer = Consumer(args, tmp_path, env)  # a service: it would poll forever
    try:
        consumer.wait_for('"consumer.no_allowed_roots"')
        time.sleep(2)
        sqs.delete_queue(QueueUrl=url)
        consumer.proc.wait(timeout=90)
    finally:
        consumer.end()
    log = consumer.log()
    assert consumer.proc.returncode == 1, log[-3000:]
    assert f"error: queue {url} no longer exists (gone for" in log, "\n".join(
        line for line in log.splitlines() if "error" in line or "gone" in line
    )[-3000:]
