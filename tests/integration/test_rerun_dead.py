"""Re-running `run` on a manifest does not dead-letter its permanent failures again (issue 15.4):
a page already in the dead-letter queue for a reason no retry mends is reported, not re-sent,
unless --retry-dead asks for it. On SQS (LocalStack) and on the embedded queue."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .conftest import comicocr

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("kind", ["sqs", "sqlite"])
def test_a_permanent_failure_is_reported_not_dead_lettered_again(
    tmp_path: Path, sample_pages: Path, queue_address: str, kind: str
) -> None:
    queue = queue_address if kind == "sqs" else f"sqlite:///{tmp_path}/q.sqlite3"
    shutil.copy(sample_pages / "page_001.png", tmp_path)
    (tmp_path / "m.csv").write_text("canonical_id,absolute_image_path\nb/ok,page_001.png\nb/gone,gone.png\n")
    args = ["run", "--manifest", "m.csv", "--output", "out", "--method", "null", "--queue", queue]

    def dead_letters() -> int:
        shown = comicocr("status", "--queue", queue, "--json", cwd=tmp_path)
        assert shown.returncode == 0, shown.stderr
        return int(json.loads(shown.stdout)["dead_lettered"])

    first = comicocr(*args, cwd=tmp_path)
    assert first.returncode == 3, first.stdout + first.stderr
    assert "dead-lettered: b/gone [permanent] image not found" in first.stdout
    assert dead_letters() == 1

    again = comicocr(*args, cwd=tmp_path)
    assert again.returncode == 3, again.stdout + again.stderr
    assert "dead-lettered before, not sent again: b/gone [permanent] image not found" in again.stdout
    assert "1 of 2 pages have results" in again.stdout
    assert dead_letters() == 1  # not twice

    forced = comicocr(*args, "--retry-dead", cwd=tmp_path)
    assert forced.returncode == 3, forced.stdout + forced.stderr
    assert "dead-lettered: b/gone [permanent]" in forced.stdout
    assert dead_letters() == 2  # asked for: tried again, failed again

    # The row corrected (another image): new work, not the dead page again.
    (tmp_path / "m.csv").write_text(
        "canonical_id,absolute_image_path\nb/ok,page_001.png\nb/gone,page_001.png\n"
    )
    fixed = comicocr(*args, cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "2 of 2 pages have results" in fixed.stdout
