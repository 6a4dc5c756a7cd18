"""Exports: JSON Lines in canonical-id order, mokuro volumes a manga reader loads."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from comicocr import export
from comicocr.cli import app
from comicocr.report import Loaded, load_results


def write(results: Path, canonical_id: str, regions: list[dict], **extra: object) -> None:
    data = {
        "canonical_id": canonical_id,
        "source_image_path": f"/scans/{canonical_id}.png",
        "ocr_method": "tesseract",
        "text_regions": regions,
        "full_text": "\n".join(r["text"] for r in regions),
        "num_regions": len(regions),
        "image": {"width": 1000, "height": 1500, "sha256": "0" * 64},
        **extra,
    }
    path = results / f"{canonical_id}_ocr.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False))


def line(text: str, bbox: list[float], balloon: object = 0, confidence: float = 0.9) -> dict:
    return {"text": text, "confidence": confidence, "bbox": bbox, "panel": 0, "balloon": balloon}


@pytest.fixture
def results(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    write(root, "series/vol1/10", [line("ten", [0, 0, 10, 10])])
    write(root, "series/vol1/2", [line("ONE", [100, 50, 200, 30]), line("TWO", [110, 90, 150, 30])])
    write(root, "series/vol2/1", [line("縦書き", [800, 100, 40, 300], balloon=0)])
    write(root, "loose", [line("<b>&", [1, 1, 1, 1])])
    return root


def test_jsonl_is_one_result_a_line_in_canonical_id_order(results: Path) -> None:
    (results / "broken_ocr.json").write_text("{")
    got = CliRunner().invoke(app, ["export", str(results)])
    assert got.exit_code == 3  # a result file could not be read: not a complete export
    lines = got.stdout.splitlines()
    ids = [json.loads(text)["canonical_id"] for text in lines]
    assert ids == ["loose", "series/vol1/10", "series/vol1/2", "series/vol2/1"]
    assert json.loads(lines[3]) == json.loads((results / "series/vol2/1_ocr.json").read_text())
    assert "縦書き" in lines[3]  # UTF-8, not \u-escaped
    assert "skipped: broken: unreadable result: not JSON" in got.stderr


def test_jsonl_to_a_file(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "all.jsonl"
    got = CliRunner().invoke(app, ["export", str(results), "--format", "jsonl", "--output", str(out)])
    assert got.exit_code == 0, got.output
    assert len(out.read_text(encoding="utf-8").splitlines()) == 4


def test_jsonl_keeps_a_lone_surrogate_escaped(tmp_path: Path) -> None:
    import io

    buffer = io.StringIO()
    export.write_jsonl([Loaded("a", tmp_path, {"text": "bad \udc80"})], buffer)
    assert buffer.getvalue() == '{"text":"bad \\udc80"}\n'


def test_mokuro_volumes_fields_and_types(results: Path) -> None:
    loaded, _ = load_results(results)
    volumes, left_out = export.mokuro_volumes(loaded, "results")
    assert not left_out
    assert sorted(volumes) == ["results", "series/vol1", "series/vol2"]
    vol1 = volumes["series/vol1"]
    assert set(vol1) == {"version", "title", "title_uuid", "volume", "volume_uuid", "pages"}
    assert (vol1["title"], vol1["volume"]) == ("series", "vol1")
    assert vol1["title_uuid"] == volumes["series/vol2"]["title_uuid"]  # one title, two volumes
    assert vol1["volume_uuid"] != volumes["series/vol2"]["volume_uuid"]
    uuid.UUID(vol1["volume_uuid"])
    assert [p["img_path"] for p in vol1["pages"]] == ["2.png", "10.png"]  # natural page order
    page = vol1["pages"][0]
    assert set(page) == {"version", "img_width", "img_height", "img_path", "blocks"}
    assert (page["img_width"], page["img_height"]) == (1000, 1500)
    (block,) = page["blocks"]  # both lines share balloon 0: one block
    assert set(block) == {"box", "vertical", "font_size", "lines", "lines_coords"}
    assert block["box"] == [100, 50, 300, 120]  # x1, y1, x2, y2
    assert block["lines"] == ["ONE", "TWO"]
    assert block["lines_coords"][0] == [[100, 50], [300, 50], [300, 80], [100, 80]]
    assert block["vertical"] is False
    assert block["font_size"] == 30
    vertical = volumes["series/vol2"]["pages"][0]["blocks"][0]
    assert vertical["vertical"] is True
    assert vertical["font_size"] == 40
    assert volumes["results"]["pages"][0]["blocks"][0]["lines"] == ["<b>&"]


def test_mokuro_blocks_split_by_balloon_and_skip_empty_lines() -> None:
    blocks = export.blocks_of(
        [
            line("a", [0, 0, 10, 10], balloon=1),
            line("b", [50, 0, 10, 10], balloon=2),
            line("c", [0, 12, 10, 10], balloon=1),
            line("   ", [0, 40, 10, 10], balloon=1),
            line("no box", [0, 0, -1, 1], balloon=1),
            line("d", [90, 90, 5, 5], balloon=None),
            "not a region",  # type: ignore[list-item]
        ]
    )
    assert [b["lines"] for b in blocks] == [["a", "c"], ["b"], ["d"]]


def test_mokuro_archive_member_is_the_img_path(tmp_path: Path) -> None:
    write(tmp_path, "book/ch01/002", [line("x", [1, 1, 5, 5])], source_archive_member="ch01/002.jpg")
    loaded, _ = load_results(tmp_path)
    assert export.mokuro_page(loaded[0])["img_path"] == "ch01/002.jpg"


def test_mokuro_files_and_stable_uuids(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "manga"
    got = CliRunner().invoke(app, ["export", str(results), "--format", "mokuro", "--output", str(out)])
    assert got.exit_code == 0, got.output
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.mokuro"))
    assert written == ["results.mokuro", "series/vol1.mokuro", "series/vol2.mokuro"]
    first = json.loads((out / "series" / "vol1.mokuro").read_text(encoding="utf-8"))
    again = CliRunner().invoke(app, ["export", str(results), "--format", "mokuro", "--output", str(out)])
    assert again.exit_code == 0
    assert json.loads((out / "series" / "vol1.mokuro").read_text(encoding="utf-8")) == first


def test_mokuro_page_without_image_size_is_left_out(tmp_path: Path) -> None:
    write(tmp_path / "r", "book/p1", [line("x", [1, 1, 5, 5])], image={"width": "wide"})
    got = CliRunner().invoke(
        app, ["export", str(tmp_path / "r"), "--format", "mokuro", "--output", str(tmp_path)]
    )
    assert got.exit_code == 3
    assert "skipped: book/p1: not exported: the result has no image width and height" in got.stderr


def test_mokuro_needs_an_output_folder(results: Path) -> None:
    got = CliRunner().invoke(app, ["export", str(results), "--format", "mokuro"])
    assert got.exit_code == 2
    assert got.stderr.startswith("error: --format mokuro needs --output DIR")


def test_export_refuses_a_url_and_a_missing_folder(tmp_path: Path) -> None:
    url = CliRunner().invoke(app, ["export", "s3://bucket/results"])
    assert url.exit_code == 2
    assert "local folder" in url.stderr
    missing = CliRunner().invoke(app, ["export", str(tmp_path / "nope")])
    assert missing.exit_code == 2
    assert "results folder not found" in missing.stderr
