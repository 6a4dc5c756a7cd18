"""Comics as users keep them, end to end: a CBZ and a folder in a manifest, through the embedded
queue and Lithops localhost, read by Tesseract; formats we cannot read and hostile archives."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from comicocr.messages import PageMessage
from comicocr.queues import open_queue

pytestmark = pytest.mark.integration
CLI = [str(Path(sys.executable).with_name("comicocr"))]
REAL = Path(__file__).resolve().parents[1] / "data" / "real"  # Pepper&Carrot by David Revoy, CC BY 4.0


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, check=False, capture_output=True, text=True, timeout=300)


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """book.cbz (pages 2 and 10, plus ComicInfo.xml and a hostile member), a folder issue/ with
    chapters, a .cbr and a manifest naming all three."""
    page = (REAL / "en_ep03_p02.jpg").read_bytes()
    with zipfile.ZipFile(tmp_path / "book.cbz", "w") as archive:
        archive.writestr("10.jpg", page)
        archive.writestr("2.jpg", page)
        archive.writestr("ComicInfo.xml", "<ComicInfo/>")
        archive.writestr("../../../escape.jpg", page)
    (tmp_path / "issue" / "ch1").mkdir(parents=True)
    shutil.copy(REAL / "fr_ep03_p01.jpg", tmp_path / "issue" / "ch1" / "001.jpg")
    (tmp_path / "old.cbr").write_bytes(b"Rar!\x1a\x07\x00")
    (tmp_path / "manifest.csv").write_text(
        "canonical_id,absolute_image_path\nseries/book,book.cbz\nseries/issue,issue\nseries/old,old.cbr\n"
    )
    return tmp_path


def test_archives_and_folders_become_pages_read_in_order(library: Path) -> None:
    done = run("run", "--manifest", "manifest.csv", "--output", "out", "--method", "tesseract", cwd=library)
    out = done.stdout + done.stderr
    assert done.returncode == 4, out  # every page done; two things rejected
    assert "done: 3 of 3 pages have results" in done.stdout, out
    assert "manifest line 2: rejected: " in done.stderr
    assert "'../../../escape.jpg': canonical_id has an empty, '.' or '..' segment" in done.stderr
    assert "manifest line 4: rejected: " in done.stderr
    assert "CBR (RAR) archives are not supported yet" in done.stderr

    ten = json.loads((library / "out" / "series" / "book" / "10_ocr.json").read_text())
    assert ten["source_image_path"] == str(library / "book.cbz")
    assert ten["source_archive_member"] == "10.jpg"
    assert "Greetings, good Sir" in ten["full_text"]
    chapter = json.loads((library / "out" / "series" / "issue" / "ch1" / "001_ocr.json").read_text())
    assert "source_archive_member" not in chapter
    assert "Bonjour Monsieur" in chapter["full_text"]
    written = sorted(p.relative_to(library / "out").as_posix() for p in (library / "out").rglob("*.json"))
    assert written == ["series/book/10_ocr.json", "series/book/2_ocr.json", "series/issue/ch1/001_ocr.json"]
    assert not (library / "escape_ocr.json").exists()


def test_a_message_naming_a_member_that_is_not_there_is_dead_lettered(library: Path) -> None:
    queue = f"sqlite:///{library / 'q.db'}"
    sent = run(
        "enqueue", "--queue", queue, "--canonical-id", "series/one", "--image", "book.cbz", cwd=library
    )
    assert sent.returncode == 4, sent.stdout + sent.stderr  # the hostile member is refused, the rest sent
    assert "enqueued 2 pages" in sent.stdout
    hostile = PageMessage(
        canonical_id="series/evil", image_path=str(library / "book.cbz"), member="../../etc/passwd"
    )

    async def send() -> None:
        q = open_queue(queue)
        await q.send_batch([hostile.to_outgoing()])
        await q.close()

    asyncio.run(send())
    consumed = run(
        "consume", "--queue", queue, "--output", "out", "--method", "null", "--until-idle", cwd=library
    )
    assert "archive has no page named '../../etc/passwd'" in consumed.stdout + consumed.stderr
    assert (library / "out" / "series" / "one" / "2_ocr.json").exists()
    assert not (library / "out" / "series" / "evil_ocr.json").exists()


def test_an_archive_page_named_like_another_row_is_rejected_not_lost(library: Path) -> None:
    with zipfile.ZipFile(library / "one.cbz", "w") as archive:
        archive.writestr("001.jpg", (REAL / "en_ep03_p02.jpg").read_bytes())
    shutil.copy(REAL / "en_ep03_p02.jpg", library / "solo.jpg")
    (library / "clash.csv").write_text("canonical_id,absolute_image_path\nbook,one.cbz\nbook/001,solo.jpg\n")
    done = run("run", "--manifest", "clash.csv", "--output", "out", "--method", "null", cwd=library)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "manifest line 2: rejected: 001.jpg: duplicate canonical_id 'book/001'" in done.stderr
    assert "done: 1 of 1 pages have results" in done.stdout
    assert json.loads((library / "out" / "book" / "001_ocr.json").read_text())["source_image_path"].endswith(
        "solo.jpg"
    )
