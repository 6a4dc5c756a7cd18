"""Shared fixtures: generated comic pages with ground truth."""

from __future__ import annotations

from pathlib import Path

import pytest

from comicocr.samples import write_pages


@pytest.fixture(scope="session")
def sample_pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three generated English pages, their truth files and manifest.csv."""
    out = tmp_path_factory.mktemp("pages")
    write_pages(out, pages=3, seed=11, width=1000, height=1500)
    return out
