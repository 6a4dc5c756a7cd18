"""Shared fixtures: generated comic pages with ground truth."""

from __future__ import annotations

from pathlib import Path

import hypothesis.strategies  # noqa: F401 - see below
import pytest

from comicocr.samples import write_pages

# Imported up front on purpose: hypothesis' plugin otherwise imports its internals at session end,
# and CPython 3.11.7 can then fail that parse with "AST constructor recursion depth mismatch"
# (a stale recursion counter after a RecursionError caught earlier, fixed in later 3.11 releases),
# turning a green run red after every test passed.


@pytest.fixture(scope="session")
def sample_pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three generated English pages, their truth files and manifest.csv."""
    out = tmp_path_factory.mktemp("pages")
    write_pages(out, pages=3, seed=11, width=1000, height=1500)
    return out
