"""Skip-if-done, batched: which pages already have a result, from one listing per folder."""

import os
from pathlib import Path

import pytest

from comicocr import storage
from comicocr.storage import places


def _result(out: Path, cid: str) -> Path:
    path = out / f"{cid}_ocr.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")
    return path


@pytest.mark.parametrize("n", [3, 50])  # below and above the listing threshold
def test_finds_the_results_that_are_there_and_only_those(tmp_path: Path, n: int) -> None:
    out = tmp_path / "out"
    ids = [f"vol1/p{i:03d}" for i in range(n)] + [f"vol2/deep/p{i}" for i in range(n)] + ["top"]
    there = set(ids[::3])
    for cid in there:
        _result(out, cid)
    (out / "vol1" / "p001_ocr.json.part").write_text("")  # a half-written temp file is no result
    assert storage.existing_results(str(out), ids) == there


def test_a_missing_output_has_no_results(tmp_path: Path) -> None:
    assert storage.existing_results(str(tmp_path / "nothing"), [f"a/p{i}" for i in range(30)]) == set()


def test_symlinks_are_judged_as_the_worker_would(tmp_path: Path) -> None:
    out, outside = tmp_path / "out", tmp_path / "outside"
    ids = [f"v/p{i}" for i in range(30)]
    _result(out, "v/p0")
    _result(outside, "p1")
    os.symlink(outside / "p1_ocr.json", out / "v" / "p1_ocr.json")  # points out: no result
    os.symlink(out / "v" / "p0_ocr.json", out / "v" / "p2_ocr.json")  # inside: a result
    (out / "w").symlink_to(outside, target_is_directory=True)  # a folder pointing out
    _result(outside, "p9")
    assert storage.existing_results(str(out), [*ids, "w/p9"]) == {"v/p0", "v/p2"}
    # the same answers one by one as in a listing
    assert storage.existing_results(str(out), ["v/p0", "v/p1", "v/p2", "w/p9"]) == {"v/p0", "v/p2"}


def test_unsafe_ids_are_never_done(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _result(out, "ok")
    assert storage.existing_results(str(out), ["ok", "../ok", "/etc/passwd", "a//b"]) == {"ok"}


def test_a_store_that_cannot_answer_means_not_done_never_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comicocr.errors import RetryableError

    def throttled(*_: object) -> bool:
        raise RetryableError("cannot check result: SlowDown")

    out = tmp_path / "out"
    _result(out, "a/p0")
    _result(out, "a/p1")
    os.symlink(out / "a" / "p0_ocr.json", out / "a" / "p2_ocr.json")
    monkeypatch.setattr(places, "exists", throttled)  # a symlinked result is asked of the store
    real_lstat = os.lstat

    def refused(path: object, *args: object, **kwargs: object) -> os.stat_result:
        if str(path).endswith("p1_ocr.json"):
            raise PermissionError(13, "Permission denied")
        return real_lstat(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(storage.os, "lstat", refused)
    assert storage.existing_results(str(out), ["a/p0", "a/p1", "a/p2", "a/p3"]) == {"a/p0"}
