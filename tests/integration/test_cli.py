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
        (["--output", "gcs://b/ocr"], "not served"),
        (["--output", "wasb://c/ocr"], "not served"),
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
    # Files, not pipes: nobody reads the first run's output until the second has finished,
    # and a full pipe would stall it mid-batch.
    log_out, log_err = (workdir / "first.out").open("w+"), (workdir / "first.err").open("w+")
    first = subprocess.Popen(args, cwd=workdir, env=env, stdout=log_out, stderr=log_err, text=True)
    deadline = time.monotonic() + 120
    while not list((workdir / "out").rglob("*_ocr.json")) and time.monotonic() < deadline:
        time.sleep(0.1)
    # The second finds some results and the rest in the queue (waiting: not sent again; in
    # the first's hands: sent again, then skipped); it ends when the queue is drained.
    second = subprocess.run(
        args, cwd=workdir, env=env, check=False, capture_output=True, text=True, timeout=240
    )
    first.wait(timeout=240)
    log_out.close()
    log_err.close()
    out, err = (workdir / "first.out").read_text(), (workdir / "first.err").read_text()
    assert first.returncode == 0, out + err
    assert second.returncode == 0, second.stdout + second.stderr
    assert "done: 24 of 24 pages have results" in out
    assert "done: 24 of 24 pages have results" in second.stdout
    assert len(list((workdir / "out").rglob("*_ocr.json"))) == 24


@pytest.mark.parametrize("command", ["run", "enqueue", "consume", "redrive", "estimate", "status"])
def test_every_help_works_and_shows_an_example(command: str, tmp_path: Path) -> None:
    shown = run(command, "--help", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "Examples:" in shown.stdout
    assert f"comicocr {command} " in shown.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["run", "--manfest", "m.csv"], "(Possible options: --manifest)"),
        (["rnu"], "Did you mean 'run'?"),
        (["run", "--manifest", "m.csv", "--workers", "0"], "--workers"),
        (["estimate", "--pages", "-5"], "--pages"),
        ([], "Usage: comicocr"),
    ],
)
def test_usage_errors_exit_2_with_a_suggestion(args: list[str], says: str, tmp_path: Path) -> None:
    wrong = run(*args, cwd=tmp_path)
    assert wrong.returncode == 2, wrong.stdout + wrong.stderr
    assert says in wrong.stdout + wrong.stderr
    assert "Traceback" not in wrong.stderr


def test_version(tmp_path: Path) -> None:
    from comicocr import __version__

    shown = run("--version", cwd=tmp_path)
    assert shown.returncode == 0
    assert shown.stdout.strip() == f"comicocr {__version__}"


@pytest.mark.parametrize(
    ("flags", "env", "says"),
    [
        (["--method", "tessaract"], {}, "unknown OCR method 'tessaract'; known:"),
        (
            ["--method", "tesseract"],
            {"TESSDATA_PREFIX": "/nonexistent-tessdata"},
            "tesseract language data eng not found in $TESSDATA_PREFIX (/nonexistent-tessdata): "
            "apt-get install tesseract-ocr-eng",
        ),
        (["--method", "qwen"], {"OPENROUTER_API_KEY": ""}, "set OPENROUTER_API_KEY"),
        (["--method", "easyocr", "--lang", "fr"], {}, "no offline weights for 'fr'"),
        (["--method", "null", "--options-file-is-not-a-flag"], {}, "No such option"),
        (["--method", "null", "--output", "afile/out"], {}, "results cannot be written to afile/out"),
        (["--method", "null", "--output", "s3://no-such-bucket-0f3a/ocr"], {}, "NoSuchBucket"),
        (["--method", "null", "--lithops-config", "missing.yaml"], {}, "cannot read Lithops config"),
    ],
)
def test_preflight_refuses_before_anything_is_enqueued(
    workdir: Path, flags: list[str], env: dict[str, str], says: str
) -> None:
    import os

    (workdir / "afile").write_text("a file where a folder is wanted")
    before = sorted(p.name for p in workdir.iterdir())
    refused = subprocess.run(
        [*CLI, "run", "--manifest", "manifest.csv", *flags],
        cwd=workdir,
        env={**os.environ, **env},
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert says in refused.stderr
    assert len(refused.stderr.strip().splitlines()) <= 4  # a line or a usage block, no traceback
    assert sorted(p.name for p in workdir.iterdir()) == before  # no queue file, no results


LAMBDA_TYPOS = """
lithops: {backend: aws_lambda, storge: aws_s3}
aws: {region: us-east-1}
aws_lambda: {execution_role: "arn:aws:iam::123456789012:role/lithops", runtime: comicocr-cpu:0.1.0,
             runtime_memroy: 3008}
"""
LAMBDA_GOOD = """
lithops: {backend: aws_lambda, storage: aws_s3}
aws: {region: us-east-1, access_key_id: AKIDEXAMPLE, secret_access_key: not-a-secret-either}
aws_lambda: {execution_role: "arn:aws:iam::123456789012:role/lithops", runtime: comicocr-cpu:0.1.0,
             runtime_memory: 3008, runtime_timeout: 900}
aws_s3: {storage_bucket: lithops-data}
"""


@pytest.mark.parametrize(
    ("config", "flags", "says"),
    [
        # Lithops' own variable is honoured: this is a Lambda config, not a local run
        (LAMBDA_TYPOS, [], ["lithops.storge is not a key", "did you mean 'storage'", "runtime_memroy"]),
        (LAMBDA_GOOD, ["--output", "out"], ["'out' is a folder on this machine", "run on aws_lambda"]),
        (LAMBDA_GOOD, ["--output", "s3://b/ocr", "--method", "paddleocr"], ["manifest line 2", "rejected"]),
        ("lithops: {backend: localhost}\n", ["--backend", "aws_lambda"], ['"execution_role" is mandatory']),
    ],
)
def test_lithops_config_problems_are_lines_before_anything_is_enqueued(
    workdir: Path, tmp_path_factory: pytest.TempPathFactory, config: str, flags: list[str], says: list[str]
) -> None:
    import os

    path = tmp_path_factory.mktemp("conf") / "lithops.yaml"
    path.write_text(config)
    before = sorted(p.name for p in workdir.iterdir())
    refused = subprocess.run(
        [*CLI, "run", "--manifest", "manifest.csv", "--method", "null", *flags],
        cwd=workdir,
        env={**os.environ, "LITHOPS_CONFIG_FILE": str(path)},
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode in (2, 4), refused.stdout + refused.stderr
    for text in says:
        assert text in refused.stderr, refused.stderr
    assert all(line.startswith(("error: ", "manifest line", "comicocr: ")) for line in lines), lines
    if refused.returncode == 2:
        assert all(f"Lithops config {path} (from LITHOPS_CONFIG_FILE)" in line for line in lines)
        assert sorted(p.name for p in workdir.iterdir()) == before  # no queue file, no results
    else:  # local images with Lambda workers: every row refused, nothing sent
        assert "pages to OCR" not in refused.stderr


def test_a_second_ctrl_c_exits_at_once_and_hands_the_page_back(workdir: Path) -> None:
    import os
    import signal
    import time

    # A page that takes a minute: the first Ctrl-C would wait for it; the second must not.
    # (Its Lithops worker finishes on its own a minute later; nothing waits for it.)
    env = {**os.environ, "COMICOCR_ENGINE_OPTIONS": '{"seconds": 60}'}
    (workdir / "one.csv").write_text("canonical_id,absolute_image_path\nbook/slow,page_001.png\n")
    args = [*CLI, "run", "--manifest", "one.csv", "--output", "out", "--method", "fault_slow"]
    proc = subprocess.Popen(
        args, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until the page is out with a worker
        status = run("status", "--queue", "sqlite:///.comicocr/queue.sqlite3", cwd=workdir)
        if status.returncode == 0 and json.loads(status.stdout)["in_flight"] == 1:
            break
        time.sleep(0.5)
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    started = time.monotonic()
    stdout, stderr = proc.communicate(timeout=60)
    assert time.monotonic() - started < 10, stderr
    assert proc.returncode == 130, stdout + stderr
    after = json.loads(run("status", "--queue", "sqlite:///.comicocr/queue.sqlite3", cwd=workdir).stdout)
    assert after["visible"] == 1  # back on the queue, not lost
