"""Where the result of a page lives under an output, and whether it is there."""

from __future__ import annotations

import os
from pathlib import Path

from comicocr.errors import PageError, PermanentError
from comicocr.ids import check_id
from comicocr.locations import output_problem
from comicocr.storage.objects import is_object, mapped, object_path

RESULT_SUFFIX = "_ocr.json"


def result_location(output: str, canonical_id: str) -> str:
    """Where the result of ``canonical_id`` lives under ``output`` (a folder or an
    ``s3://``, ``az://``, ``gs://`` address)."""
    key = check_id(canonical_id) + RESULT_SUFFIX
    problem = output_problem(output)
    if problem:  # Settings and the planner refuse these first; never write them as a folder
        raise PermanentError(problem)
    if is_object(output):
        return output.rstrip("/") + "/" + key
    root = Path(output).resolve()
    path = (root / key).resolve()
    if not path.is_relative_to(root):  # check_id already forbids this; keep the guard
        raise PermanentError("result path escapes the output folder")
    return str(path)


def result_name(canonical_id: str) -> str:
    """The result's file name in its folder."""
    return canonical_id.rpartition("/")[2] + RESULT_SUFFIX


def exists(location: str) -> bool:
    """Whether a file or object is at ``location``; PageError when the store cannot say."""
    if is_object(location):
        path = object_path(location)
        with mapped(path, "cannot check result"):
            return path.store.size(path.bucket, path.key) is not None
    return os.path.exists(location)


def exists_or_false(output: str, canonical_id: str) -> bool:
    """Whether the page's result is there; False when it cannot be placed (a symlink
    pointing out) or the store cannot be asked: not done."""
    try:
        return exists(result_location(output, canonical_id))
    except (PageError, OSError):
        return False
