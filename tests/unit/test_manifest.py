from pathlib import Path

import pytest

from comicocr.errors import ConfigError
from comicocr.manifest import read_manifest


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "manifest.csv"
    path.write_text(text)
    return path


def test_bad_rows_are_reported_by_line_and_good_rows_pass(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "canonical_id,absolute_image_path\n"
        "ok/1,/data/1.png\n"
        ",/data/2.png\n"
        "ok/3,\n"
        "ok/1,/data/dup.png\n"
        "../evil,/data/4.png\n"
        "ok/5,s3://bucket/5.png\n",
    )
    manifest = read_manifest(path)
    assert [(r.line, r.canonical_id, r.image_path) for r in manifest.rows] == [
        (2, "ok/1", "/data/1.png"),
        (7, "ok/5", "s3://bucket/5.png"),
    ]
    reasons = {r.line: r.reason for r in manifest.rejected}
    assert set(reasons) == {3, 4, 5, 6}
    assert "missing" in reasons[3]
    assert "missing" in reasons[4]
    assert "duplicate" in reasons[5]
    assert "line 2" in reasons[5]
    assert "'..'" in reasons[6]


def test_relative_paths_join_prefix_or_manifest_folder(tmp_path: Path) -> None:
    path = write(tmp_path, "canonical_id,absolute_image_path\na,img/a.png\n")
    assert read_manifest(path).rows[0].image_path == str(tmp_path / "img" / "a.png")
    assert read_manifest(path, "/mnt/comics").rows[0].image_path == "/mnt/comics/img/a.png"
    assert read_manifest(path, "s3://bucket/root/").rows[0].image_path == "s3://bucket/root/img/a.png"


def test_missing_header_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="canonical_id,absolute_image_path"):
        read_manifest(write(tmp_path, "id,path\na,b.png\n"))


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read manifest"):
        read_manifest(tmp_path / "nope.csv")
