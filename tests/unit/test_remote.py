"""The worker function, run in-process: one outcome per page, never a raise; plain data both ways."""

import json
import pickle
from pathlib import Path

import pytest

from comicocr.contract import (
    Chunk,
    ChunkSpec,
    Done,
    EngineSpec,
    Failed,
    MalformedWire,
    Outcome,
    PageJob,
    Skipped,
    Throttled,
    outcome_from_wire,
    outcome_to_wire,
)
from comicocr.errors import ErrorClass
from comicocr.remote import process_chunk


def chunk(output: Path, pages: list[tuple[str, str]], engine: str = "null") -> Chunk:
    spec = ChunkSpec(
        engine=EngineSpec(engine, "en"),
        output=str(output),
        direction=None,
        skip_existing=True,
        max_image_bytes=10_000_000,
        max_image_pixels=100_000_000,
        allowed_roots=(),
        allow_http=False,
    )
    return Chunk(spec, tuple(PageJob(str(i), cid, path) for i, (cid, path) in enumerate(pages)))


def run(c: Chunk) -> list[Outcome]:
    """As Lithops runs it: plain data in (pickled, as Lithops ships it), plain data out."""
    wire = pickle.loads(pickle.dumps(c.to_wire()))
    return [outcome_from_wire(o) for o in process_chunk(wire)]


def test_each_page_gets_its_own_outcome(tmp_path: Path, sample_pages: Path) -> None:
    (tmp_path / "junk.png").write_bytes(b"definitely not a png")
    outcomes = run(
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
    by_id = {o.canonical_id: o for o in outcomes}
    assert isinstance(by_id["s/good"], Done)
    missing, junk, web = by_id["s/missing"], by_id["s/junk"], by_id["s/web"]
    assert isinstance(missing, Failed)
    assert isinstance(junk, Failed)
    assert isinstance(web, Failed)
    assert (missing.error_class, junk.error_class) == ("permanent", "permanent")
    assert "not found" in missing.error
    assert "not a supported image" in junk.error
    assert "http(s) image paths are refused" in web.error
    result = json.loads((tmp_path / "out" / "s" / "good_ocr.json").read_text())
    assert result["canonical_id"] == "s/good"
    assert result["num_regions"] == 0
    assert result["image"]["width"] == 1000
    assert not list((tmp_path / "out").rglob("*.part"))


def test_existing_result_is_skipped(tmp_path: Path, sample_pages: Path) -> None:
    pages = [("a", str(sample_pages / "page_001.png"))]
    assert isinstance(run(chunk(tmp_path, pages))[0], Done)
    assert isinstance(run(chunk(tmp_path, pages))[0], Skipped)


def test_unknown_engine_fails_every_page_permanently(tmp_path: Path) -> None:
    outcomes = run(chunk(tmp_path, [("a", "x.png"), ("b", "y.png")], engine="nope"))
    assert all(isinstance(o, Failed) and o.error_class is ErrorClass.PERMANENT for o in outcomes)
    assert isinstance(outcomes[0], Failed)
    assert "unknown OCR method" in outcomes[0].error


@pytest.mark.parametrize(
    "outcome",
    [
        Done("0", "a/b", "/out/a/b_ocr.json", 3, 0.25, {"total_tokens": 10}),
        Skipped("1", "c", "s3://b/c_ocr.json"),
        Failed("2", "d", ErrorClass.PERMANENT, "image not found", whole_call=False),
        Throttled("3", "e", "429", 12.5, "payment_required"),
        Done("4", "f", "/out/f_ocr.json", 1, 0.5, {"total_tokens": 10}, requests=3),
        Failed("5", "g", ErrorClass.RETRYABLE, "empty answer", usage={"total_tokens": 7}, requests=2),
        Throttled("6", "h", "still throttled (429)", 1.0, requests=5),
        Skipped("7", "i", "/out/i_ocr.json", {"total_tokens": 9}, requests=1),
    ],
)
def test_outcomes_survive_the_wire(outcome: Outcome) -> None:
    wire = outcome_to_wire(outcome)
    assert json.loads(json.dumps(wire)) == wire  # plain JSON-compatible data
    assert outcome_from_wire(json.loads(json.dumps(wire))) == outcome


def test_an_older_workers_outcome_still_decodes_with_no_requests() -> None:
    old = {"kind": "done", "key": "0", "canonical_id": "a", "result": "/o/a_ocr.json", "usage": None}
    assert outcome_from_wire(old) == Done("0", "a", "/o/a_ocr.json")
    failed = {"kind": "failed", "key": "1", "canonical_id": "b", "error_class": "retryable", "error": "x"}
    assert outcome_from_wire(failed).requests == 0


def test_malformed_wire_is_refused(tmp_path: Path) -> None:
    for bad in (
        None,
        [],
        {"kind": "done"},
        {"kind": "nope", "key": "0"},
        {"kind": "failed", "error_class": "x"},
        {"kind": "skipped", "key": "0", "canonical_id": "a", "result": "r", "requests": "3"},
    ):
        with pytest.raises(MalformedWire):
            outcome_from_wire(bad)
    with pytest.raises(MalformedWire):
        Chunk.from_wire({"spec": {}, "pages": []})
    c = chunk(tmp_path, [("a", "x.png")])
    assert Chunk.from_wire(json.loads(json.dumps(c.to_wire()))) == c
