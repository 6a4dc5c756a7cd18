"""The worker function, run in-process: one outcome per page, never a raise."""

import json
from pathlib import Path

from comicocr.remote import process_chunk


def chunk(output: Path, pages: list[tuple[str, str]], engine: str = "null", **extra: object) -> dict:
    return {
        "engine": {"name": engine, "options": {}, "lang": "en", "gpu": False},
        "direction": None,
        "output": str(output),
        "skip_existing": True,
        "max_image_bytes": 10_000_000,
        "pages": [
            {"key": str(i), "canonical_id": cid, "image_path": path} for i, (cid, path) in enumerate(pages)
        ],
        **extra,
    }


def test_each_page_gets_its_own_outcome(tmp_path: Path, sample_pages: Path) -> None:
    (tmp_path / "junk.png").write_bytes(b"definitely not a png")
    outcomes = process_chunk(
        chunk(
            tmp_path / "out",
            [
                ("s/good", str(sample_pages / "page_001.png")),
                ("s/missing", str(tmp_path / "nope.png")),
                ("s/junk", str(tmp_path / "junk.png")),
                ("s/web", "https://example.com/p.png"),
            ],
        )
    )
    by_id = {o["canonical_id"]: o for o in outcomes}
    assert by_id["s/good"]["status"] == "done"
    assert (by_id["s/missing"]["error_class"], by_id["s/junk"]["error_class"]) == ("permanent", "permanent")
    assert "not found" in by_id["s/missing"]["error"]
    assert "not a supported image" in by_id["s/junk"]["error"]
    assert "http(s) image paths are refused" in by_id["s/web"]["error"]
    result = json.loads((tmp_path / "out" / "s" / "good_ocr.json").read_text())
    assert result["canonical_id"] == "s/good"
    assert result["num_regions"] == 0
    assert result["image"]["width"] == 1000
    assert not list((tmp_path / "out").rglob("*.part"))


def test_existing_result_is_skipped(tmp_path: Path, sample_pages: Path) -> None:
    pages = [("a", str(sample_pages / "page_001.png"))]
    assert process_chunk(chunk(tmp_path, pages))[0]["status"] == "done"
    assert process_chunk(chunk(tmp_path, pages))[0]["status"] == "skipped"


def test_unknown_engine_fails_every_page_permanently(tmp_path: Path) -> None:
    outcomes = process_chunk(chunk(tmp_path, [("a", "x.png"), ("b", "y.png")], engine="nope"))
    assert [o["error_class"] for o in outcomes] == ["permanent", "permanent"]
    assert "unknown OCR method" in outcomes[0]["error"]
