"""The HTML report: escaping, geometry, image guards, failures, splitting, the view command."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from comicocr import report
from comicocr.cli import app
from comicocr.contract import Region
from comicocr.results import build_result, encode

HOSTILE = '</svg><script>alert("x")</script><img src=x onerror=alert(1)>&amp;'


def png(width: int = 200, height: int = 300, colour: str = "white") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "PNG")
    return buffer.getvalue()


def write_result(
    results: Path,
    canonical_id: str,
    image_path: str,
    regions: list[dict[str, object]],
    size: tuple[int, int] = (200, 300),
    member: str | None = None,
) -> Path:
    """A result file of the real schema (results.build_result), with ``regions`` as given."""
    data = build_result(
        canonical_id=canonical_id,
        source_image_path=image_path,
        method="null",
        engine_info={"engine": "null"},
        regions=[Region("x", 1.0, (0, 0, 1, 1))],
        image_bytes=b"",
        width=size[0],
        height=size[1],
        lang="en",
        direction="ltr",
        duration_s=0.0,
        source_member=member,
    )
    data["text_regions"] = regions
    path = results / f"{canonical_id}_ocr.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.write_bytes(encode(data))
    except UnicodeEncodeError:  # a non-UTF-8 name: JSON can still hold it, \u-escaped
        path.write_text(json.dumps(data))
    return path


def region(text: str, bbox: object, confidence: object = 0.9, panel: object = 0, balloon: object = 0) -> dict:
    return {"text": text, "confidence": confidence, "bbox": bbox, "panel": panel, "balloon": balloon}


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "pages" / "p1.png"
    path.parent.mkdir()
    path.write_bytes(png())
    return path


def render(results: Path, **kwargs: object) -> str:
    index = report.write_report(results, **kwargs).index  # type: ignore[arg-type]
    return index.read_text(encoding="utf-8")


# -- escaping ---------------------------------------------------------------------------


def test_hostile_text_id_and_paths_stay_text(tmp_path: Path, image: Path) -> None:
    results = tmp_path / "results"
    write_result(results, 'evil"<b>/p1', str(image), [region(HOSTILE, [10, 10, 50, 20], panel=HOSTILE)])
    data = json.loads((results / 'evil"<b>' / "p1_ocr.json").read_text())
    data["ocr_method"] = HOSTILE
    data["source_archive_member"] = None
    (results / 'evil"<b>' / "p1_ocr.json").write_text(json.dumps(data))
    html = render(results, failures=[report.Failure(HOSTILE, "dead letter [poison]", HOSTILE)])
    assert "<script" not in html.lower()
    assert "<img src=x" not in html
    assert "<b>" not in html
    assert "&lt;/svg&gt;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "&amp;amp;" in html  # an entity in the data shows as typed, not as "&"
    assert "Content-Security-Policy" in html
    assert "default-src 'none'" in html


def test_esc_replaces_control_characters_and_lone_surrogates() -> None:
    assert report.esc("a\x00b\x1bc\udc80") == "a\ufffdb\ufffdc?"
    assert report.esc("line\nnext\ttab") == "line\nnext\ttab"
    assert report.esc(5) == "5"


# -- geometry ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bbox", "expected"),
    [
        ([1, 2, 3, 4], (1.0, 2.0, 3.0, 4.0)),
        ([1.5, 2, 3, 4], (1.5, 2.0, 3.0, 4.0)),
        ([0, 0, -5, 4], None),
        ([0, 0, 0, 4], None),
        ([0, 0, 5], None),
        ([0, 0, 5, "4"], None),
        ([0, 0, True, 4], None),
        ([0, 0, float("nan"), 4], None),
        ([0, 0, float("inf"), 4], None),
        ([0, 0, 10**400, 4], None),
        ("0,0,1,1", None),
        (None, None),
    ],
)
def test_parse_bbox(bbox: object, expected: object) -> None:
    assert report.parse_bbox(bbox) == expected


def test_clip_and_scale() -> None:
    assert report.clip_box((-10, -10, 30, 30), 100, 100) == (0, 0, 20, 20)
    assert report.clip_box((90, 90, 1e12, 1e12), 100, 100) == (90, 90, 10, 10)
    assert report.clip_box((200, 0, 10, 10), 100, 100) is None
    assert report.scale_box((100, 50, 20, 10), 0.5) == (50, 25, 10, 5)


def test_boxes_are_drawn_in_source_pixels_with_viewbox_of_the_image(tmp_path: Path, image: Path) -> None:
    results = tmp_path / "results"
    regions = [
        region("one", [10, 20, 50, 15], panel=0, balloon=0),
        region("two", [12, 40, 40, 15], confidence=0.3, panel=0, balloon=0),
        region("three", [100, 200, 60, 30], panel=1, balloon=1),
        region("outside", [500, 500, 10, 10], panel=1, balloon=2),
        region("huge", [-1e9, 150, 1e12, 10], panel=None, balloon=None),
        region("broken", [0, 0, -1, 5]),
    ]
    write_result(results, "book/p1", str(image), regions)
    html = render(results)
    assert '<svg viewBox="0 0 200 300"' in html
    assert '<rect class="box" x="10" y="20" width="50" height="15"/>' in html
    assert '<rect class="box" x="0" y="150" width="200" height="10"/>' in html  # cut to the image
    assert html.count('<rect class="box"') == 4  # "outside" and "broken" are not drawn
    assert "box lies outside the image" in html
    assert "no valid box" in html
    assert "box cut to the image" in html
    # panel 0: the union of regions 1 and 2; panel 1: region 3 only (region 4 is not drawn)
    assert '<rect class="panel" x="10" y="20" width="50" height="35"/>' in html
    assert '<rect class="panel" x="100" y="200" width="60" height="30"/>' in html
    assert html.count('<rect class="balloon"') == 2
    # numbered in reading order, in the picture and in the list, low confidence marked in both
    assert '<g class="region low" id="p1-r2">' in html
    assert '<li class="region-text low" id="t1-r2">' in html
    assert "low confidence" in html
    assert re.search(r'<g class="region" id="p1-r1">.*?>1</text>', html)
    items = re.findall(r'<a class="num" href="#p1-r(\d+)">(\d+)</a>([^<]*)', html)
    assert [(a, b, text.strip()) for a, b, text in items][:3] == [
        ("1", "1", "one"),
        ("2", "2", "two"),
        ("3", "3", "three"),
    ]
    assert "data:image/jpeg;base64," in html


def test_thumbnail_is_at_most_1600_px() -> None:
    uri = report.thumbnail_uri(Image.new("RGB", (4000, 1000), "white"))
    shown = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert shown.size == (1600, 400)
    assert shown.format == "JPEG"


# -- images that cannot be shown ----------------------------------------------------------


def bomb_png(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (its data is one tiny row)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 10))
        + chunk(b"IEND", b"")
    )


def page_notes(tmp_path: Path, image_path: str, **kwargs: object) -> tuple[report.PageView, str]:
    results = tmp_path / "results"
    write_result(results, "book/p1", image_path, [region("hello", [10, 10, 20, 20])], **kwargs)  # type: ignore[arg-type]
    html = render(results)
    loaded, _ = report.load_results(results)
    return report.page_view(loaded[0]), html


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda d: None, "image not found"),
        (lambda d: (d / "p.png").write_bytes(b"not an image"), "not a supported image"),
        (lambda d: (d / "p.png").write_bytes(bomb_png(30000, 30000)), "decompression bomb"),
        (lambda d: (d / "p.png").write_bytes(bomb_png(12000, 12000)), "decompression bomb"),
        (lambda d: (d / "p.png").write_bytes(bomb_png(25000, 100)), "largest side allowed is 20000"),
        (lambda d: (d / "p.png").write_bytes(png()[:60]), "image not shown"),
        (lambda d: os.mkfifo(d / "p.png"), "not a regular file"),
        (lambda d: (d / "p.png").mkdir(), "image not shown"),
    ],
)
def test_unshowable_image_is_a_note_and_the_page_still_shows(tmp_path: Path, make, says: str) -> None:
    folder = tmp_path / "img"
    folder.mkdir()
    make(folder)
    page, html = page_notes(tmp_path, str(folder / "p.png"))
    assert page.image_uri is None
    assert any(says in note for note in page.notes), page.notes
    assert "data:image/jpeg" not in html
    assert '<rect class="box" x="10" y="10" width="20" height="20"/>' in html  # the size is in the result
    assert 'class="placeholder" style="aspect-ratio: 200 / 300"' in html


def test_symlinked_image_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "secret.png"
    outside.parent.mkdir()
    outside.write_bytes(png())
    link = tmp_path / "link.png"
    link.symlink_to(outside)
    page, _html = page_notes(tmp_path, str(link))
    assert page.image_uri is None
    assert any("symbolic link" in note for note in page.notes)


def test_remote_image_is_not_fetched(tmp_path: Path) -> None:
    page, _ = page_notes(tmp_path, "s3://bucket/p1.png")
    assert any("local files only" in note for note in page.notes)


def test_changed_image_and_other_size_are_noted(tmp_path: Path) -> None:
    (tmp_path / "p.png").write_bytes(png(100, 100))
    page, _ = page_notes(tmp_path, str(tmp_path / "p.png"))
    assert page.image_uri is not None
    assert any("sha256 differs" in note for note in page.notes)
    assert any("the image is 100x100, the result says 200x300" in note for note in page.notes)


def test_page_of_a_cbz_is_read_from_its_member(tmp_path: Path) -> None:
    archive = tmp_path / "book.cbz"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ch01/001.png", png())
    page, html = page_notes(tmp_path, str(archive), member="ch01/001.png")
    assert page.image_uri is not None, page.notes
    assert "book.cbz :: ch01/001.png" in html


def test_non_utf8_file_names(tmp_path: Path) -> None:
    results = tmp_path / "results"
    folder = os.path.join(os.fsencode(results), b"vol\xff")
    os.makedirs(folder)
    image = os.path.join(os.fsencode(tmp_path), b"p\xfe.png")
    with open(image, "wb") as handle:
        handle.write(png())
    write_result(results, os.fsdecode(b"vol\xff/p1"), os.fsdecode(image), [region("hi", [1, 1, 5, 5])])
    html = render(results)
    assert "vol\ufffd/p1" in html
    assert "data:image/jpeg" in html  # the image was found under its real (non-UTF-8) name


# -- failures, splitting, empty ---------------------------------------------------------


def test_bad_result_files_are_listed_as_failures(tmp_path: Path, image: Path) -> None:
    results = tmp_path / "results"
    write_result(results, "book/good", str(image), [region("ok", [1, 1, 5, 5])])
    (results / "book" / "bad_ocr.json").write_text("{not json")
    (results / "book" / "list_ocr.json").write_text("[1, 2]")
    (results / "book" / "latin_ocr.json").write_bytes(b'{"text": "\xe9"}')
    (results / "book" / "deep_ocr.json").write_text("[" * 100_000 + "]" * 100_000)
    (results / "book" / "regions_ocr.json").write_text('{"text_regions": {"a": 1}}')
    (results / "book" / "notes.json").write_text("{not json")  # not a result file: ignored
    (results / "book" / "link_ocr.json").symlink_to(results / "book" / "good_ocr.json")
    loaded, failures = report.load_results(results)
    assert [item.canonical_id for item in loaded] == ["book/good"]
    reasons = {f.canonical_id: f.reason for f in failures}
    assert set(reasons) == {"book/bad", "book/list", "book/latin", "book/deep", "book/regions", "book/link"}
    assert all(f.kind == "unreadable result" for f in failures)
    assert reasons["book/latin"] == "not UTF-8"
    assert reasons["book/link"] == "not a regular file (a symlink, FIFO or device)"
    html = render(results)
    assert "Failures (6)" in html
    assert "book/bad" in html
    assert "not JSON" in html


def test_empty_folder_says_no_results(tmp_path: Path) -> None:
    html = render(tmp_path)
    assert "no results" in html
    assert (tmp_path / "report" / "index.html").is_file()


def test_many_pages_are_split_into_linked_files(tmp_path: Path, image: Path) -> None:
    results = tmp_path / "results"
    for n in (1, 2, 10, 3, 20):
        write_result(results, f"book/{n}", str(image), [region(f"page {n}", [1, 1, 5, 5])])
    index = report.write_report(results, tmp_path / "out", pages_per_file=2).index
    html = index.read_text()
    names = re.findall(r'<a href="(page-\d{4}\.html)">', html)
    assert names == ["page-0001.html", "page-0002.html", "page-0003.html"]
    first = (tmp_path / "out" / "page-0001.html").read_text()
    assert "book/1" in first
    assert "book/2" in first
    assert "book/3" not in first
    assert "book/20" in (tmp_path / "out" / "page-0003.html").read_text()  # natural order
    assert "data:image" not in html


def test_report_folder_is_not_read_as_results(tmp_path: Path, image: Path) -> None:
    results = tmp_path / "results"
    write_result(results, "book/p1", str(image), [region("x", [1, 1, 5, 5])])
    (results / "report").mkdir()
    (results / "report" / "stray_ocr.json").write_text("{bad")
    loaded, failures = report.load_results(results, skip=results / "report")
    assert len(loaded) == 1
    assert not failures


# -- the command --------------------------------------------------------------------------


def test_view_command(tmp_path: Path, image: Path) -> None:
    results = tmp_path / "results"
    write_result(results, "book/p1", str(image), [region("x", [1, 1, 5, 5])])
    got = CliRunner().invoke(app, ["view", str(results)])
    assert got.exit_code == 0, got.output
    assert got.stdout.strip() == str((results / "report" / "index.html").resolve())
    assert "report: 1 page," in got.stderr


def test_view_open_hands_the_file_to_the_browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    got = CliRunner().invoke(app, ["view", str(tmp_path), "--open", "--output", str(tmp_path / "out")])
    assert got.exit_code == 0, got.output
    assert opened == [(tmp_path / "out" / "index.html").resolve().as_uri()]
    assert "no results" in (tmp_path / "out" / "index.html").read_text()


@pytest.mark.parametrize(
    ("where", "says"),
    [("s3://bucket/prefix", "must be a local folder"), ("https://x/y", "must be a local folder")],
)
def test_view_refuses_urls(where: str, says: str) -> None:
    got = CliRunner().invoke(app, ["view", where])
    assert got.exit_code == 2
    assert got.stderr.startswith("error: ")
    assert says in got.stderr
    assert got.stderr.count("\n") == 1


def test_view_of_a_missing_folder(tmp_path: Path) -> None:
    got = CliRunner().invoke(app, ["view", str(tmp_path / "nope")])
    assert got.exit_code == 2
    assert got.stderr == f"error: results folder not found: {tmp_path / 'nope'}\n"


async def _dead_letter_queue(path: Path) -> None:
    from comicocr.queues.base import Outgoing
    from comicocr.queues.local import LocalQueue

    queue = LocalQueue(f"sqlite:///{path}")
    await queue.ensure()
    await queue.dead_letters.send_batch(
        [
            Outgoing(
                json.dumps({"canonical_id": "book/gone", "image_path": "/x.png"}),
                {"comicocr-error-class": "permanent", "comicocr-error": f"image not found {HOSTILE}"},
            ),
            Outgoing("{poison", {"comicocr-error-class": "poison", "comicocr-error": "not JSON"}),
        ]
    )
    await queue.close()


async def _dead_count(path: Path) -> int:
    from comicocr.queues.local import LocalQueue

    queue = LocalQueue(f"sqlite:///{path}")
    try:
        return (await queue.depths()).dead
    finally:
        await queue.close()


def test_view_lists_dead_letters_and_moves_none(tmp_path: Path) -> None:
    import asyncio

    db = tmp_path / "q.sqlite3"
    asyncio.run(_dead_letter_queue(db))
    results = tmp_path / "results"
    results.mkdir()
    got = CliRunner().invoke(app, ["view", str(results), "--queue", f"sqlite:///{db}"])
    assert got.exit_code == 0, got.output
    html = (results / "report" / "index.html").read_text()
    assert "book/gone" in html
    assert "dead letter [permanent]" in html
    assert "dead letter [poison]" in html
    assert "<script" not in html
    assert asyncio.run(_dead_count(db)) == 2
