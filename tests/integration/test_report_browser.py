"""The report as a browser draws it: real results from the real worker (Tesseract), rendered by
Debian's Chromium headless, and the boxes found in the screenshot where the JSON says.

To find the page in the screenshot without depending on font metrics, the page is given a
pure yellow frame before it is OCR'd: the frame's extent in the screenshot is where the image
is drawn and how much it was scaled."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from comicocr import report
from comicocr.contract import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, Chunk, ChunkSpec, Done, EngineSpec, PageJob
from comicocr.samples import make_page
from comicocr.worker import run_chunk

pytestmark = pytest.mark.integration

FRAME = 12  # px of pure yellow around the page
WINDOW = (1300, 1700)
SCREENSHOT_COPY = Path("/tmp/report_screenshot.png")


@pytest.fixture(scope="session")
def sqs_server() -> str:
    """This module needs no queue server: it overrides the integration conftest's autouse one."""
    return ""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (scripts/setup --dev installs it)")
        pytest.skip("chromium is not installed (scripts/setup --dev installs it)")
    return found


def browser(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--hide-scrollbars",
        *args,
    ]
    return subprocess.run(command, check=False, capture_output=True, text=True, timeout=120)


def screenshot(index: Path, tmp_path: Path) -> np.ndarray:
    shot = tmp_path / "shot.png"
    done = browser(
        [f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--screenshot={shot}", index.as_uri()], tmp_path
    )
    assert shot.is_file(), done.stderr[-2000:]
    shutil.copy(shot, SCREENSHOT_COPY)
    return np.asarray(Image.open(shot).convert("RGB")).astype(int)


@pytest.fixture(scope="module")
def ocr_result(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """One generated page with a yellow frame, OCR'd by the real worker with Tesseract."""
    root = tmp_path_factory.mktemp("report")
    page, _ = make_page(seed=11_000, width=1000, height=1500)
    framed = ImageOps.expand(page, border=FRAME, fill=(255, 255, 0))
    image = root / "pages" / "page_001.png"
    image.parent.mkdir()
    framed.save(image)
    spec = ChunkSpec(
        engine=EngineSpec("tesseract", "en"),
        output=str(root / "results"),
        direction=None,
        skip_existing=False,
        max_image_bytes=MAX_IMAGE_BYTES,
        max_image_pixels=MAX_IMAGE_PIXELS,
        allowed_roots=(str(image.parent),),
        allow_http=False,
    )
    (outcome,) = run_chunk(Chunk(spec, (PageJob("1", "book/p1", str(image)),)))
    assert isinstance(outcome, Done), outcome
    path = Path(outcome.result)
    data = json.loads(path.read_text())
    assert data["num_regions"] >= 3
    # One region read with low confidence, as a weak engine would: it must be marked.
    data["text_regions"][1]["confidence"] = 0.3
    path.write_text(json.dumps(data))
    return root / "results", data


def is_colour(pixels: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 60) -> np.ndarray:
    return np.abs(pixels - np.array(rgb)).sum(axis=-1) < tolerance


MAGENTA, ORANGE, YELLOW = (255, 0, 255), (255, 140, 0), (255, 255, 0)


def frame_of(shot: np.ndarray) -> tuple[int, int, int, int]:
    """(x1, y1, x2, y2) of the yellow frame: where the page image is drawn."""
    ys, xs = np.nonzero(is_colour(shot, YELLOW, 90))
    assert len(xs) > 1000, "the page image is not in the screenshot"
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def edge_has(shot: np.ndarray, colour: tuple[int, int, int], x: float, y: float, vertical: bool) -> bool:
    """Is ``colour`` within 3 px of (x, y) across the edge (the stroke is 2 px, anti-aliased)?"""
    xi, yi = round(x), round(y)
    band = shot[yi, xi - 3 : xi + 4] if vertical else shot[yi - 3 : yi + 4, xi]
    return bool(is_colour(band, colour).any())


def test_boxes_land_where_the_json_says(ocr_result: tuple[Path, dict], tmp_path: Path) -> None:
    results, data = ocr_result
    index = report.write_report(results, tmp_path / "report").index
    html = index.read_text()
    regions = data["text_regions"]
    assert html.count('<rect class="box"') == len(regions)
    shot = screenshot(index, tmp_path)

    x1, y1, x2, y2 = frame_of(shot)
    width, height = data["image"]["width"], data["image"]["height"]
    scale = (x2 - x1) / width
    assert abs((y2 - y1) / height - scale) < 0.01, "the image is drawn distorted"
    assert abs((x2 - x1) - report.FIGURE_WIDTH_PX) <= 2  # the layout is the one the CSS says

    checked = 0
    for number, region in enumerate(regions, start=1):
        bx, by, bw, bh = report.scale_box(tuple(region["bbox"]), scale)
        left, top, right, bottom = x1 + bx, y1 + by, x1 + bx + bw, y1 + by + bh
        colour, other = (ORANGE, MAGENTA) if region["confidence"] < 0.5 else (MAGENTA, ORANGE)
        for fraction in (0.25, 0.5, 0.75):
            across_x, across_y = left + bw * fraction, top + bh * fraction
            assert edge_has(shot, colour, left, across_y, vertical=True), f"left edge of region {number}"
            assert edge_has(shot, colour, right, across_y, vertical=True), f"right edge of region {number}"
            assert edge_has(shot, colour, across_x, bottom, vertical=False), f"bottom of region {number}"
            assert not edge_has(shot, other, left, across_y, vertical=True)
        # inside the box: the page shows through (transparent fill), no stroke colour
        inside = shot[round(top) + 3 : round(bottom) - 2, round(left) + 3 : round(right) - 2]
        assert inside.size, f"region {number} is too small to look inside"
        assert is_colour(inside, colour).mean() < 0.02, f"inside region {number}"
        checked += 1
    assert checked == len(regions)
    assert '<g class="region low" id="p1-r2">' in html
    assert '<li class="region-text low" id="t1-r2">' in html


def test_hostile_result_runs_no_script(tmp_path: Path, ocr_result: tuple[Path, dict]) -> None:
    """A text made to break out of the SVG and run a script is shown, and nothing runs."""
    _, data = ocr_result
    hostile = json.loads(json.dumps(data))
    hostile["text_regions"][0]["text"] = (
        '</title></svg><script>document.title="pwned"</script><img src=x onerror="document.title=1">'
    )
    hostile["text_regions"][1]["bbox"] = [-50, -50, 1e9, 1e9]
    results = tmp_path / "results"
    (results / "book").mkdir(parents=True)
    (results / "book" / "p1_ocr.json").write_text(json.dumps(hostile))
    index = report.write_report(results).index
    done = browser(["--dump-dom", index.as_uri()], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert "<title>OCR report</title>" in dom
    assert "pwned" in dom  # shown as text ...
    assert "<script" not in dom.lower()  # ... never as an element
    assert '<img src="x"' not in dom
