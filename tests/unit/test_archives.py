"""CBZ archives and folders of pages -> pages in reading order; hostile archives refused."""

from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from comicocr import archives
from comicocr.archives import Page
from comicocr.errors import PermanentError


def png(size: tuple[int, int] = (8, 8)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "white").save(out, "PNG")
    return out.getvalue()


def cbz(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_natural_order_numbers_as_numbers_and_folder_by_folder() -> None:
    names = ["10.png", "2.png", "ch2/1.png", "ch10/1.png", "Page 3.jpg", "page 20.jpg", "1.png"]
    assert sorted(names, key=archives.natural_key) == [
        "1.png",
        "2.png",
        "10.png",
        "ch2/1.png",
        "ch10/1.png",
        "Page 3.jpg",
        "page 20.jpg",
    ]


def test_an_archive_becomes_its_pages_named_id_slash_page(tmp_path: Path) -> None:
    book = cbz(
        tmp_path / "book.cbz",
        {
            "10.png": png(),
            "2.png": png(),
            "ComicInfo.xml": b"<ComicInfo/>",
            "__MACOSX/._2.png": b"resource fork",
            ".DS_Store": b"",
            "extra/01.jpg": png(),
        },
    )
    pages, refused = archives.expand("series/vol1", str(book))
    assert pages == [
        Page("series/vol1/2", str(book), "2.png"),
        Page("series/vol1/10", str(book), "10.png"),
        Page("series/vol1/extra/01", str(book), "extra/01.jpg"),
    ]
    assert refused == []
    assert archives.read_member(str(book), "10.png", 10_000) == png()


def test_hostile_member_names_are_refused_one_by_one_and_the_rest_goes_through(tmp_path: Path) -> None:
    book = cbz(
        tmp_path / "evil.cbz",
        {
            "../../escape.png": png(),
            "/etc/abs.png": png(),
            "ok.png": png(),
            "ok.jpg": png(),
            "a\x01b.png": png(),
        },
    )
    pages, refused = archives.expand("book", str(book))
    assert [p.canonical_id for p in pages] == ["book/ok"]
    reasons = {r.where: r.reason for r in refused}
    assert "'..' segment" in reasons["../../escape.png"]
    assert "'.' or '..'" in reasons["/etc/abs.png"] or "empty" in reasons["/etc/abs.png"]
    assert "also 'book/ok'" in reasons["ok.png"] or "also 'book/ok'" in reasons["ok.jpg"]
    assert "control characters" in reasons["a\x01b.png"]


def test_a_folder_becomes_its_pages_and_symlinked_folders_are_not_followed(tmp_path: Path) -> None:
    folder = tmp_path / "issue1"
    (folder / "ch1").mkdir(parents=True)
    for name in ("ch1/10.png", "ch1/9.png", "cover.jpg", "notes.txt", ".hidden.png"):
        (folder / name).write_bytes(png())
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(png())
    os.symlink(outside, folder / "link")
    pages, refused = archives.expand("issue1", str(folder))
    assert pages == [
        Page("issue1/ch1/9", str(folder / "ch1/9.png")),
        Page("issue1/ch1/10", str(folder / "ch1/10.png")),
        Page("issue1/cover", str(folder / "cover.jpg")),
    ]
    assert refused == []


def test_one_image_is_itself() -> None:
    assert archives.expand("p1", "/pages/p1.png") == ([Page("p1", "/pages/p1.png")], [])
    assert archives.expand("p1", "s3://bucket/p1.png") == ([Page("p1", "s3://bucket/p1.png")], [])


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("book.cbr", "CBR (RAR) archives are not supported yet"),
        ("book.CB7", "CB7 (7-Zip) archives are not supported yet"),
        ("book.pdf", "PDF files are not supported yet"),
    ],
)
def test_formats_we_cannot_read_say_so(name: str, says: str, tmp_path: Path) -> None:
    (tmp_path / name).write_bytes(b"Rar!\x1a\x07\x00")
    with pytest.raises(PermanentError, match=re.escape(says)):
        archives.expand("b", str(tmp_path / name))


def test_bad_archives_are_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "fake.cbz").write_bytes(b"not a zip at all")
    with pytest.raises(PermanentError, match="not a readable ZIP/CBZ archive"):
        archives.expand("b", str(tmp_path / "fake.cbz"))
    with pytest.raises(PermanentError, match="archive not found"):
        archives.expand("b", str(tmp_path / "missing.cbz"))
    empty = cbz(tmp_path / "empty.cbz", {"readme.txt": b"hi"})
    with pytest.raises(PermanentError, match="no page images inside"):
        archives.expand("b", str(empty))
    with pytest.raises(PermanentError, match="local disk only"):
        archives.expand("b", "s3://bucket/book.cbz")
    os.mkfifo(tmp_path / "fifo.cbz")
    with pytest.raises(PermanentError, match="not a regular file"):
        archives.expand("b", str(tmp_path / "fifo.cbz"))


def test_members_over_the_size_cap_and_missing_members_are_refused(tmp_path: Path) -> None:
    # A zip bomb's page: tiny in the archive, huge once inflated.
    book = cbz(tmp_path / "bomb.cbz", {"big.png": b"\0" * 5_000_000, "small.png": png()})
    assert book.stat().st_size < 20_000
    with pytest.raises(PermanentError, match="larger than 1000000 bytes"):
        archives.read_member(str(book), "big.png", 1_000_000)
    with pytest.raises(PermanentError, match=r"no page named 'nope\.png'"):
        archives.read_member(str(book), "nope.png", 1_000_000)


def test_too_many_pages_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archives, "MAX_PAGES", 3)
    book = cbz(tmp_path / "many.cbz", {f"{i}.png": b"x" for i in range(5)})
    with pytest.raises(PermanentError, match="archive has 5 pages; at most 3"):
        archives.expand("b", str(book))


def test_odd_digits_and_names_that_are_not_utf8_are_sorted_or_refused_never_a_crash(tmp_path: Path) -> None:
    book = cbz(tmp_path / "odd.cbz", {"\u2461/001.png": png(), "1\u00b22.png": png(), "a/002.png": png()})
    pages, _ = archives.expand("b", str(book))
    assert len(pages) == 3
    raw = bytearray((tmp_path / "odd.cbz").read_bytes())
    bad = cbz(tmp_path / "latin1.cbz", {"\u00e9t\u00e9.png": png()})  # flagged UTF-8 (0x800)
    data = bad.read_bytes().replace("\u00e9t\u00e9".encode(), b"\xe9t\xe9.")  # not UTF-8 any more
    bad.write_bytes(data)
    assert raw  # the first archive is untouched
    with pytest.raises(PermanentError, match="not a readable ZIP/CBZ archive"):
        archives.expand("b", str(bad))


def test_an_index_with_too_many_entries_is_refused_before_it_is_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archives, "MAX_ENTRIES", 100)
    book = cbz(tmp_path / "wide.cbz", {f"junk/{i}.txt": b"" for i in range(150)} | {"1.png": png()})
    with pytest.raises(PermanentError, match="archive lists 151 entries; at most 100"):
        archives.expand("b", str(book))


def test_a_folder_named_like_an_archive_says_so(tmp_path: Path) -> None:
    (tmp_path / "x.cbz").mkdir()
    with pytest.raises(PermanentError, match="folder named like an archive"):
        archives.read_member(str(tmp_path / "x.cbz"), "1.png", 1000)
