"""Skip-if-done asks whose result it is: a result written for another image is a collision,
and the allowed-roots check comes first (a refused image is never "skipped")."""

import dataclasses
import json
import shutil
from pathlib import Path

from comicocr.contract import Chunk, ChunkSpec, Done, EngineSpec, Failed, Outcome, PageJob, Skipped
from comicocr.errors import ErrorClass
from comicocr.worker import run_chunk


def one(output: Path, cid: str, image: Path, roots: tuple[str, ...] = ()) -> Outcome:
    spec = ChunkSpec(
        engine=EngineSpec("null", "en"),
        output=str(output),
        direction=None,
        skip_existing=True,
        max_image_bytes=10_000_000,
        max_image_pixels=100_000_000,
        allowed_roots=roots,
        allow_http=False,
    )
    return run_chunk(Chunk(spec, (PageJob("0", cid, str(image)),)))[0]


def test_the_same_image_again_is_skipped(tmp_path: Path, sample_pages: Path) -> None:
    image = sample_pages / "page_001.png"
    assert isinstance(one(tmp_path / "out", "c/p9", image), Done)
    assert isinstance(one(tmp_path / "out", "c/p9", image), Skipped)


def test_another_image_with_the_id_is_a_collision_not_a_skip(tmp_path: Path, sample_pages: Path) -> None:
    first, second = sample_pages / "page_001.png", sample_pages / "page_002.png"
    assert isinstance(one(tmp_path / "out", "c/p9", first), Done)
    got = one(tmp_path / "out", "c/p9", second)
    assert isinstance(got, Failed)
    assert got.error_class is ErrorClass.PERMANENT
    assert "id collision" in got.error
    assert str(first) in got.error
    assert str(second) in got.error
    result = json.loads((tmp_path / "out" / "c" / "p9_ocr.json").read_text())
    assert result["source_image_path"] == str(first)  # the first result stays


def test_the_same_bytes_under_another_path_are_this_pages(tmp_path: Path, sample_pages: Path) -> None:
    moved = tmp_path / "moved" / "page_001.png"
    moved.parent.mkdir()
    shutil.copy(sample_pages / "page_001.png", moved)
    assert isinstance(one(tmp_path / "out", "c/p9", sample_pages / "page_001.png"), Done)
    assert isinstance(one(tmp_path / "out", "c/p9", moved), Skipped)  # a folder that moved


def test_a_result_that_says_nothing_of_its_source_is_taken_as_done(
    tmp_path: Path, sample_pages: Path
) -> None:
    (tmp_path / "out" / "c").mkdir(parents=True)
    (tmp_path / "out" / "c" / "p9_ocr.json").write_text("not json")
    assert isinstance(one(tmp_path / "out", "c/p9", sample_pages / "page_001.png"), Skipped)


def test_a_refused_image_is_refused_even_when_its_id_is_done(tmp_path: Path, sample_pages: Path) -> None:
    image = sample_pages / "page_001.png"
    assert isinstance(one(tmp_path / "out", "c/p9", image), Done)
    got = one(tmp_path / "out", "c/p9", image, roots=(str(tmp_path / "elsewhere"),))
    assert isinstance(got, Failed)
    assert "outside the allowed roots" in got.error
    assert dataclasses.asdict(got)["error_class"] == ErrorClass.PERMANENT
