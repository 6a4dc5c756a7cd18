"""`comicocr run` as a user runs it: embedded queue, Lithops localhost, exit codes, summary."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
CLI = [str(Path(sys.executable).with_name("comicocr"))]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, check=False, capture_output=True, text=True, timeout=240)


@pytest.fixture
def workdir(tmp_path: Path, sample_pages: Path) -> Path:
    for page in sample_pages.glob("page_00[12].*"):
        shutil.copy(page, tmp_path)
    (tmp_path / "manifest.csv").write_text(
        "canonical_id,absolute_image_path\nbook/p1,page_001.png\nbook/p2,page_002.png\n"
    )
    return tmp_path


def test_run_reads_every_page_then_skips_on_rerun(workdir: Path) -> None:
    first = run("run", "--manifest", "manifest.csv", "--output", "out", "--workers", "2", cwd=workdir)
    assert first.returncode == 0, first.stderr
    assert "done: 2 of 2 pages have results" in first.stdout
    result = json.loads((workdir / "out" / "book" / "p1_ocr.json").read_text())
    truth = json.loads((workdir / "page_001.truth.json").read_text())
    first_line = truth["balloons"][0]["lines"][0]
    assert first_line in result["full_text"]

    again = run("run", "--manifest", "manifest.csv", "--output", "out", cwd=workdir)
    assert again.returncode == 0, again.stderr
    assert "(0 new, 2 already there)" in again.stdout


def test_dead_lettered_page_and_rejected_row_set_exit_codes(workdir: Path) -> None:
    (workdir / "bad.csv").write_text(
        "canonical_id,absolute_image_path\nbook/p1,page_001.png\n../escape,page_002.png\n"
    )
    rejected = run("run", "--manifest", "bad.csv", "--output", "out", "--method", "null", cwd=workdir)
    assert rejected.returncode == 4, rejected.stdout + rejected.stderr
    assert "manifest line 3: rejected" in rejected.stderr

    (workdir / "missing.csv").write_text("canonical_id,absolute_image_path\nbook/gone,gone.png\n")
    missing = run("run", "--manifest", "missing.csv", "--output", "out", "--method", "null", cwd=workdir)
    assert missing.returncode == 3, missing.stdout + missing.stderr
    assert "dead-lettered: book/gone [permanent] image not found" in missing.stdout


def test_bad_flag_is_a_clear_usage_error(workdir: Path) -> None:
    bad = run("run", "--manifest", "manifest.csv", "--lang", "xx", cwd=workdir)
    assert bad.returncode == 2
    assert "lang" in bad.stderr
    nofile = run("run", "--manifest", "nope.csv", cwd=workdir)
    assert nofile.returncode == 2
    assert "cannot read manifest" in nofile.stderr


def test_interrupted_run_says_so_and_a_rerun_finishes(workdir: Path) -> None:
    import os
    import signal
    import time

    rows = "".join(f"book/s{i:02d},page_001.png\n" for i in range(30))
    (workdir / "slow.csv").write_text("canonical_id,absolute_image_path\n" + rows)
    env = {**os.environ, "COMICOCR_ENGINE_OPTIONS": '{"seconds": 0.2}', "COMICOCR_BATCH_SIZE": "4"}
    args = [*CLI, "run", "--manifest", "slow.csv", "--output", "out", "--method", "fault_slow"]
    proc = subprocess.Popen(
        args, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while not list((workdir / "out").rglob("*_ocr.json")) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stdout + stderr
    assert "interrupted" in stdout
    done_first = len(list((workdir / "out").rglob("*_ocr.json")))
    assert 0 < done_first < 30

    again = subprocess.run(
        args, cwd=workdir, env=env, check=False, capture_output=True, text=True, timeout=240
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "done: 30 of 30 pages have results" in again.stdout
    assert len(list((workdir / "out").rglob("*_ocr.json"))) == 30


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--output", "gs://b/ocr"], "not served"),
        (["--output", "az://c/ocr"], "not served"),
        (["--queue", "my-queue"], "not a queue address"),
        (["--queue", "sqs.eu-west-1.amazonaws.com/123/q"], "not a queue address"),
    ],
)
def test_unserved_addresses_are_refused_before_anything_is_enqueued(
    workdir: Path, flags: list[str], says: str
) -> None:
    before = sorted(p.name for p in workdir.iterdir())
    refused = run("run", "--manifest", "manifest.csv", "--method", "null", *flags, cwd=workdir)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert says in refused.stderr
    assert sorted(p.name for p in workdir.iterdir()) == before  # no gs:/ folder, no queue file


def test_two_runs_on_one_manifest_both_count_every_result(workdir: Path) -> None:
    import os
    import time

    rows = "".join(f"book/t{i:02d},page_001.png\n" for i in range(24))
    (workdir / "two.csv").write_text("canonical_id,absolute_image_path\n" + rows)
    env = {**os.environ, "COMICOCR_ENGINE_OPTIONS": '{"seconds": 0.3}', "COMICOCR_BATCH_SIZE": "4"}
    args = [*CLI, "run", "--manifest", "two.csv", "--output", "out", "--method", "fault_slow"]
    first = subprocess.Popen(
        args, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while not list((workdir / "out").rglob("*_ocr.json")) and time.monotonic() < deadline:
        time.sleep(0.1)
    # The second finds some results and the rest in the queue (waiting: not sent again; in
    # the first's hands: sent again, then skipped); it ends when the queue is drained.
    second = subprocess.run(
        args, cwd=workdir, env=env, check=False, capture_output=True, text=True, timeout=240
    )
    out, err = first.communicate(timeout=240)
    assert first.returncode == 0, out + err
    assert second.returncode == 0, second.stdout + second.stderr
    assert "done: 24 of 24 pages have results" in out
    assert "done: 24 of 24 pages have results" in second.stdout
    assert len(list((workdir / "out").rglob("*_ocr.json"))) == 24
