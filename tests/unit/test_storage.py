"""Allowed roots, atomic writes and result keys: nothing is read or written where it should not be."""

import os
from pathlib import Path

import pytest

from comicocr import storage
from comicocr.errors import PermanentError


def test_paths_inside_roots_pass_and_outside_fail(tmp_path: Path) -> None:
    root = tmp_path / "comics"
    (root / "vol1").mkdir(parents=True)
    page = root / "vol1" / "p1.png"
    page.write_bytes(b"x")
    storage.check_allowed(str(page), [str(root)])
    for bad in ("/etc/passwd", str(root / ".." / "secret.png"), str(tmp_path / "comics-evil" / "p.png")):
        with pytest.raises(PermanentError, match="outside the allowed roots"):
            storage.check_allowed(bad, [str(root)])


def test_symlink_escaping_a_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "comics"
    root.mkdir()
    (tmp_path / "secret.png").write_bytes(b"x")
    os.symlink(tmp_path / "secret.png", root / "innocent.png")
    with pytest.raises(PermanentError, match="outside the allowed roots"):
        storage.check_allowed(str(root / "innocent.png"), [str(root)])


def test_bucket_roots_and_schemes() -> None:
    storage.check_allowed("s3://comics/vol1/p1.png", ["s3://comics"])
    storage.check_allowed("s3://comics/vol1/p1.png", ["s3://comics/vol1/"])
    with pytest.raises(PermanentError, match="outside"):
        storage.check_allowed("s3://comics-other/p1.png", ["s3://comics"])
    with pytest.raises(PermanentError, match="outside"):
        storage.check_allowed("s3://comics/vol2/p1.png", ["s3://comics/vol1"])
    with pytest.raises(PermanentError, match="http"):
        storage.check_allowed("https://example.com/p.png", [])
    storage.check_allowed("https://example.com/p.png", [], allow_http=True)
    with pytest.raises(PermanentError, match="scheme"):
        storage.check_allowed("file:///etc/passwd", [])


def test_no_roots_allows_any_local_path() -> None:
    storage.check_allowed("/anywhere/p.png", [])


def test_result_keys_mirror_ids_and_never_escape(tmp_path: Path) -> None:
    assert storage.result_location(str(tmp_path), "S/i1/p1") == str(tmp_path / "S" / "i1" / "p1_ocr.json")
    assert storage.result_location("s3://b/out/", "S/p1") == "s3://b/out/S/p1_ocr.json"
    with pytest.raises(ValueError, match="canonical_id"):
        storage.result_location(str(tmp_path), "../../etc/cron.d/x")


def test_byte_cap_and_missing_files(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * 2048)
    with pytest.raises(PermanentError, match="larger than 1024 bytes"):
        storage.read_bytes(str(big), 1024)
    with pytest.raises(PermanentError, match="not found"):
        storage.read_bytes(str(tmp_path / "nope.png"), 1024)
    with pytest.raises(PermanentError, match="directory"):
        storage.read_bytes(str(tmp_path), 1024)


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "a" / "p_ocr.json"
    assert storage.write_atomic(str(target), b'{"v": 1}')
    assert storage.write_atomic(str(target), b'{"v": 2}')
    assert target.read_bytes() == b'{"v": 2}'
    assert [p.name for p in target.parent.iterdir()] == ["p_ocr.json"]
