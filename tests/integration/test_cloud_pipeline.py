"""`comicocr run` with images in, and results out to, Azure Blob (Azurite) and GCS
(fake-gcs-server): the embedded queue, the real Lithops localhost executor, Tesseract.
Credentials reach the CLI and its workers only through each SDK's standard variables."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cloud_buckets import SCHEMES, Bucket, make_bucket

pytestmark = pytest.mark.integration
CLI = [str(Path(sys.executable).with_name("comicocr"))]


@pytest.fixture(params=SCHEMES)
def bucket(request: pytest.FixtureRequest) -> Bucket:
    """Each test runs once on Azurite and once on fake-gcs-server."""
    request.getfixturevalue("azurite" if request.param == "az" else "gcs_emulator")
    return make_bucket(request.param)


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, check=False, capture_output=True, text=True, timeout=240)


def test_pages_from_the_store_are_read_and_their_results_written_there(
    bucket: Bucket, sample_pages: Path, tmp_path: Path
) -> None:
    images = {f"book/p{i}": (sample_pages / f"page_00{i}.png").read_bytes() for i in (1, 2)}
    for cid, data in images.items():
        bucket.put(f"scans/{cid}.png", data)
    root = bucket.root
    (tmp_path / "m.csv").write_text(
        "canonical_id,absolute_image_path\n"
        + "".join(f"{cid},{root}/scans/{cid}.png\n" for cid in images)
        + f"book/gone,{root}/scans/book/gone.png\n"
    )
    flags = ["--output", f"{root}/ocr", "--allow-root", f"{root}/scans", "--method", "tesseract"]

    first = run("run", "--manifest", "m.csv", *flags, "--workers", "2", cwd=tmp_path)

    assert first.returncode == 3, first.stdout + first.stderr  # one page dead-lettered
    assert "dead-lettered: book/gone [permanent] image not found" in first.stdout
    for i, (cid, data) in enumerate(images.items(), start=1):
        result = json.loads(bucket.get(f"ocr/{cid}_ocr.json"))
        assert result["source_image_path"] == f"{root}/scans/{cid}.png"
        assert result["image"]["sha256"] == hashlib.sha256(data).hexdigest()  # read from the store
        truth = json.loads((sample_pages / f"page_00{i}.truth.json").read_text())
        assert truth["balloons"][0]["lines"][0] in result["full_text"]
    assert bucket.keys() == sorted(
        [f"ocr/{cid}_ocr.json" for cid in images] + [f"scans/{cid}.png" for cid in images]
    )  # the results and the images: no probe, no temp object left behind
    assert not (tmp_path / f"{bucket.scheme}:").exists()

    # Skip-if-done asks the store: nothing is sent again
    (tmp_path / "done.csv").write_text("".join((tmp_path / "m.csv").read_text().splitlines(True)[:3]))
    again = run("run", "--manifest", "done.csv", *flags, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "(0 new, 2 already there)" in again.stdout


def test_unsafe_and_unserved_image_addresses_are_refused_before_anything_is_sent(
    bucket: Bucket, tmp_path: Path
) -> None:
    root = bucket.root
    (tmp_path / "m.csv").write_text(
        "canonical_id,absolute_image_path\n"
        f"a/p1,wasb://{bucket.name}/scans/p1.png\n"
        f"a/p2,{root}/scans/../secret/p2.png\n"
        f"a/p3,{root}-other/scans/p3.png\n"
    )
    refused = run(
        "run", "--manifest", "m.csv", "--output", f"{root}/ocr", "--allow-root", f"{root}/scans",
        "--method", "null", cwd=tmp_path,
    )  # fmt: skip
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert "unsupported image URI scheme: wasb" in refused.stderr
    assert "'.' or '..' segment" in refused.stderr
    assert "outside the allowed roots" in refused.stderr
    assert bucket.keys() == []  # nothing written, not even a probe left behind


def test_a_missing_container_or_bucket_is_one_line_and_exit_2(bucket: Bucket, tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("canonical_id,absolute_image_path\na/p1,p1.png\n")
    missing = f"{bucket.scheme}://no-such-{bucket.name}/ocr"
    refused = run("run", "--manifest", "m.csv", "--output", missing, "--method", "null", cwd=tmp_path)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: results cannot be written to {missing}: cannot write result: ")
    assert not (tmp_path / ".comicocr").exists() or not list((tmp_path / ".comicocr").rglob("*.sqlite3"))
