"""A page you can look at: a results folder as one self-contained HTML report.

``comicocr view RESULTS`` writes ``RESULTS/report/index.html``: every page image (a downscaled
JPEG inside the file), its regions drawn over it and numbered in reading order, the same numbers
beside the text, panels and balloons outlined, low-confidence regions marked, and what failed
(dead letters, result files that do not parse). The file needs no network and runs no script:
its Content-Security-Policy forbids both, so even a text that slipped past escaping stays text.

Everything read from a result or a file name is untrusted: it is HTML-escaped, numbers are
parsed and clipped to the image before they reach the SVG, and the page image is read only
when it is a regular local file (no symlink, FIFO or device) and passes the same decoding
guards as a worker's (size, pixels, frames).
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import math
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image

from comicocr import archives, images
from comicocr.contract import MAX_IMAGE_BYTES
from comicocr.errors import PageError, PermanentError
from comicocr.storage import RESULT_SUFFIX

MAX_RESULT_BYTES = 20 * 1024 * 1024  # a page's result is kilobytes; more is not one
MAX_DISPLAY_SIDE = 1600  # the embedded JPEG's longest side, in pixels
JPEG_QUALITY = 82
LOW_CONFIDENCE = 0.5
PAGES_PER_FILE = 500  # more pages: page-0001.html, page-0002.html, ... linked from index.html
MAX_SIDE = 1_000_000  # a width or height a result may claim; beyond it the size is not believed
FIGURE_WIDTH_PX = 800  # the page image's width on screen (less on a narrow window)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
Box = tuple[float, float, float, float]  # x, y, w, h in source-image pixels


@dataclass(frozen=True)
class Failure:
    """A page (or file) without a result to show, and why."""

    canonical_id: str  # "" when not known (a poison message)
    kind: str  # "dead letter [permanent]", "unreadable result", ...
    reason: str


@dataclass(frozen=True)
class Loaded:
    """One result file that parsed: its id (from its path under the results folder) and data."""

    canonical_id: str
    path: Path
    data: dict[str, Any]


def esc(value: object) -> str:
    """Text for HTML (element or attribute): escaped, control characters and lone surrogates
    (a non-UTF-8 file name, ``"\\udc80"`` in JSON) replaced, so the page always encodes."""
    text = value if isinstance(value, str) else str(value)
    text = text.encode("utf-8", "replace").decode("utf-8")
    return html.escape(_CONTROL.sub("\ufffd", text), quote=True)


def path_text(path: str | Path) -> str:
    """A file name as a person reads it: bytes that are not UTF-8 shown as U+FFFD."""
    return os.fsencode(path).decode("utf-8", "replace")


# -- reading results ---------------------------------------------------------------------


def load_results(results_dir: Path, skip: Path | None = None) -> tuple[list[Loaded], list[Failure]]:
    """Every ``*_ocr.json`` under ``results_dir`` (symlinked folders are not followed; ``skip``,
    the report's own folder, is not entered). A file that does not parse as a result becomes a
    Failure of kind "unreadable result" instead of stopping the rest."""
    loaded: list[Loaded] = []
    failures: list[Failure] = []
    skip_real = os.path.realpath(skip) if skip is not None else None

    def walk_error(exc: OSError) -> None:
        where = path_text(exc.filename or results_dir)
        failures.append(Failure("", "unreadable folder", f"{where}: {exc.strerror or exc}"))

    for root, dirs, files in os.walk(results_dir, onerror=walk_error):
        dirs[:] = sorted(d for d in dirs if os.path.realpath(os.path.join(root, d)) != skip_real)
        for name in sorted(files):
            if not name.endswith(RESULT_SUFFIX):
                continue
            path = Path(root) / name
            rel = path.relative_to(results_dir).as_posix()
            canonical_id = path_text(rel[: -len(RESULT_SUFFIX)])
            try:
                loaded.append(Loaded(canonical_id, path, _read_result(path)))
            except ValueError as exc:
                failures.append(Failure(canonical_id, "unreadable result", str(exc)[:300]))
    return loaded, failures


def _read_result(path: Path) -> dict[str, Any]:
    """A result file's JSON object, or ValueError saying why it is not one."""
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file (a symlink, FIFO or device)")
        if info.st_size > MAX_RESULT_BYTES:
            raise ValueError(f"larger than {MAX_RESULT_BYTES} bytes")
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise ValueError(f"not JSON: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise ValueError("not a result: the JSON is not an object")
    if not isinstance(data.get("text_regions", []), list):
        raise ValueError("not a result: text_regions is not a list")
    return data


def sort_key(canonical_id: str) -> tuple[tuple[tuple[int, int | str], ...], ...]:
    """Pages in natural order: ``book/2`` before ``book/10``."""
    return archives.natural_key(canonical_id)


# -- a page's geometry -------------------------------------------------------------------


def parse_bbox(value: object) -> Box | None:
    """``[x, y, w, h]`` of four finite numbers with a positive width and height, else None."""
    if not isinstance(value, list | tuple) or len(value) != 4:
        return None
    numbers = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float):
            return None
        try:
            number = float(item)
        except OverflowError:  # an integer with hundreds of digits
            return None
        if not math.isfinite(number):
            return None
        numbers.append(number)
    x, y, w, h = numbers
    if w <= 0 or h <= 0:
        return None
    return x, y, w, h


def clip_box(box: Box, width: int, height: int) -> Box | None:
    """``box`` cut to the image; None when nothing of it is inside."""
    x, y, w, h = box
    x1, y1 = max(0.0, x), max(0.0, y)
    x2, y2 = min(float(width), x + w), min(float(height), y + h)
    if x2 <= x1 or y2 <= y1:
        return None
    return x1, y1, x2 - x1, y2 - y1


def union(boxes: Iterable[Box]) -> Box:
    boxes = list(boxes)
    x1 = min(b[0] for b in boxes)
    y1 = min(b[1] for b in boxes)
    x2 = max(b[0] + b[2] for b in boxes)
    y2 = max(b[1] + b[3] for b in boxes)
    return x1, y1, x2 - x1, y2 - y1


def scale_box(box: Box, factor: float) -> Box:
    """A box in source pixels -> in pixels of the image shown at ``factor`` of its size."""
    return box[0] * factor, box[1] * factor, box[2] * factor, box[3] * factor


def _positive_int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_SIDE:
        return None
    return value


def _confidence(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _group_id(value: object) -> int | str | None:
    """A panel or balloon id: an int (or a short string); None (no panel) and anything else: none."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int) or (isinstance(value, str) and 0 < len(value) <= 64):
        return value
    return None


@dataclass
class RegionView:
    number: int  # 1-based, reading order
    text: str
    confidence: float | None
    box: Box | None  # clipped to the image; None: not drawn (see note)
    note: str = ""
    panel: int | str | None = None
    balloon: int | str | None = None

    @property
    def low(self) -> bool:
        return self.confidence is not None and self.confidence < LOW_CONFIDENCE


@dataclass
class PageView:
    canonical_id: str
    data: dict[str, Any]
    width: int | None = None  # the source image's size: the overlay's coordinate system
    height: int | None = None
    image_uri: str | None = None  # data:image/jpeg;base64,...
    notes: list[str] = field(default_factory=list)
    regions: list[RegionView] = field(default_factory=list)
    panels: list[Box] = field(default_factory=list)
    balloons: list[Box] = field(default_factory=list)


def regions_of(data: dict[str, Any], width: int | None, height: int | None) -> list[RegionView]:
    """The result's regions, numbered in the order the file lists them (reading order)."""
    views = []
    raw = data.get("text_regions", [])
    for number, region in enumerate(raw if isinstance(raw, list) else [], start=1):
        if not isinstance(region, dict):
            views.append(RegionView(number, "", None, None, "not a region (not a JSON object)"))
            continue
        text = region.get("text", "")
        view = RegionView(
            number,
            text if isinstance(text, str) else json.dumps(text, ensure_ascii=False)[:1000],
            _confidence(region.get("confidence")),
            None,
            panel=_group_id(region.get("panel")),
            balloon=_group_id(region.get("balloon")),
        )
        box = parse_bbox(region.get("bbox"))
        if box is None:
            view.note = "no valid box ([x, y, w, h] of numbers, w and h > 0)"
        elif width is None or height is None:
            view.note = "box not drawn: the image size is not known"
        else:
            view.box = clip_box(box, width, height)
            if view.box is None:
                view.note = "box lies outside the image"
            elif view.box != box:
                view.note = "box cut to the image"
        views.append(view)
    return views


def groups(regions: Sequence[RegionView], attr: str) -> list[Box]:
    """Union box of the drawn regions that share a panel (or balloon) id, in first-seen order."""
    boxes: dict[int | str, list[Box]] = {}
    for region in regions:
        key = getattr(region, attr)
        if key is not None and region.box is not None:
            boxes.setdefault(key, []).append(region.box)
    return [union(group) for group in boxes.values()]


# -- the page image ----------------------------------------------------------------------


def _read_regular(path: str) -> bytes:
    """A regular local file's bytes; a symlink, FIFO, device or folder is refused."""
    try:
        # O_NOFOLLOW: a symlink (which may point anywhere) is not read; O_NONBLOCK: a FIFO
        # without a writer does not hang the report.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise PermanentError("image not found") from None
    except OSError as exc:
        if os.path.islink(path):
            raise PermanentError(
                "image path is a symbolic link; the report reads only regular files"
            ) from None
        raise PermanentError(f"cannot read image: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise PermanentError("image path is not a regular file")
        if info.st_size > MAX_IMAGE_BYTES:
            raise PermanentError(f"image is larger than {MAX_IMAGE_BYTES} bytes")
        try:
            return handle.read(MAX_IMAGE_BYTES + 1)
        except OSError as exc:
            raise PermanentError(f"cannot read image: {exc.strerror}") from None


def read_page_image(data: dict[str, Any]) -> bytes:
    """The bytes the result was read from: its ``source_image_path``, or for a page of a CBZ
    the ``source_archive_member`` inside that archive. PermanentError says why not."""
    source = data.get("source_image_path")
    member = data.get("source_archive_member")
    if not isinstance(source, str) or not source:
        raise PermanentError("the result names no source_image_path")
    if "://" in source:
        scheme = source.split("://", maxsplit=1)[0][:20]
        raise PermanentError(
            f"the image is not a local file ({scheme}://); the report reads local files only"
        )
    if member is None:
        return _read_regular(source)
    if not isinstance(member, str) or not member:
        raise PermanentError("source_archive_member is not a name")
    try:
        info = os.lstat(source)
    except OSError as exc:
        raise PermanentError(f"cannot read archive: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise PermanentError("archive path is not a regular file (a symlink, FIFO or device)")
    return archives.read_member(source, member, MAX_IMAGE_BYTES)


def thumbnail_uri(image: Image.Image, max_side: int = MAX_DISPLAY_SIDE) -> str:
    """A JPEG data URI of ``image``, its longest side at most ``max_side``."""
    shown = image.copy()
    shown.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    shown.convert("RGB").save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def page_view(loaded: Loaded) -> PageView:
    """Everything the report shows of one result: image, size, regions, groups, notes."""
    data = loaded.data
    page = PageView(loaded.canonical_id, data)
    image_info = data.get("image")
    recorded: dict[str, Any] = image_info if isinstance(image_info, dict) else {}
    page.width, page.height = _positive_int(recorded.get("width")), _positive_int(recorded.get("height"))
    claimed = data.get("canonical_id")
    if isinstance(claimed, str) and claimed != loaded.canonical_id:
        page.notes.append(f"the file says its canonical_id is {claimed[:200]!r}")
    try:
        raw = read_page_image(data)
        image = images.decode(raw)  # the worker's guards: bombs, frames, truncation
    except PageError as exc:
        page.notes.append(f"image not shown: {exc}")
    except (OSError, ValueError, MemoryError) as exc:  # anything else Pillow raises on a hostile file
        page.notes.append(f"image not shown: {type(exc).__name__}: {str(exc)[:200]}")
    else:
        sha = recorded.get("sha256")
        if isinstance(sha, str) and sha != hashlib.sha256(raw).hexdigest():
            page.notes.append("the image file changed since it was read (sha256 differs): boxes may not fit")
        if page.width is None or page.height is None:
            page.width, page.height = image.size
        elif image.size != (page.width, page.height):
            page.notes.append(
                f"the image is {image.width}x{image.height}, the result says {page.width}x{page.height}"
            )
        page.image_uri = thumbnail_uri(image)
    if page.width is None or page.height is None:
        page.notes.append("the image size is not known: boxes are not drawn")
    page.regions = regions_of(data, page.width, page.height)
    page.panels = groups(page.regions, "panel")
    page.balloons = groups(page.regions, "balloon")
    return page


# -- HTML --------------------------------------------------------------------------------

_CSS = f"""
:root {{ --region: #ff00ff; --low: #ff8c00; --panel: #1f6fff; --balloon: #00a651; }}
* {{ box-sizing: border-box; }}
body {{ margin: 0; padding: 16px 24px; font: 15px/1.4 system-ui, sans-serif; color: #222;
  background: #fafafa; }}
h1 {{ font-size: 22px; margin: 0 0 4px; }}
h2 {{ font-size: 17px; margin: 0 0 4px; word-break: break-all; }}
.meta, .note {{ color: #666; font-size: 13px; margin: 0 0 8px; }}
.note {{ color: #a33; }}
.page {{ margin: 0 0 32px; padding: 16px 0 0; border-top: 1px solid #ddd; }}
.cols {{ display: flex; gap: 24px; align-items: flex-start; }}
figure.page-figure {{ position: relative; margin: 0; flex: 0 0 auto; width: {FIGURE_WIDTH_PX}px;
  max-width: 100%; line-height: 0; background: #eee; }}
figure.page-figure img {{ display: block; width: 100%; height: auto; }}
figure.page-figure .placeholder {{ width: 100%; }}
figure.page-figure svg {{ position: absolute; left: 0; top: 0; width: 100%; height: 100%; overflow: hidden; }}
svg rect {{ fill: none; vector-effect: non-scaling-stroke; }}
svg .panel {{ stroke: var(--panel); stroke-width: 2; stroke-dasharray: 10 6; }}
svg .balloon {{ stroke: var(--balloon); stroke-width: 2; stroke-dasharray: 3 3; }}
svg .region rect {{ stroke: var(--region); stroke-width: 2; }}
svg .region.low rect {{ stroke: var(--low); }}
svg .region:target rect {{ stroke-width: 4; }}
svg text {{ fill: var(--region); paint-order: stroke; stroke: #fff; stroke-width: 3px;
  font-family: sans-serif; font-weight: bold; }}
svg .low text {{ fill: var(--low); }}
ol.regions {{ margin: 0; padding: 0 0 0 8px; list-style: none; flex: 1 1 320px; min-width: 240px; }}
ol.regions li {{ margin: 0 0 6px; white-space: pre-wrap; overflow-wrap: anywhere; }}
ol.regions .num {{ display: inline-block; min-width: 2.2em; font-weight: bold; color: var(--region); }}
ol.regions .conf, ol.regions .where {{ color: #888; font-size: 12px; }}
ol.regions li.low {{ background: #fff1e0; }}
ol.regions li.low .num, .badge {{ color: var(--low); }}
.badge {{ font-size: 12px; font-weight: bold; border: 1px solid var(--low); border-radius: 3px;
  padding: 0 3px; }}
.legend span {{ margin-right: 16px; font-size: 13px; }}
.legend i {{ display: inline-block; width: 22px; height: 0; vertical-align: middle; margin-right: 4px; }}
table.failures {{ border-collapse: collapse; margin: 0 0 24px; }}
table.failures td, table.failures th {{ border: 1px solid #ddd; padding: 3px 8px; text-align: left;
  vertical-align: top; overflow-wrap: anywhere; }}
nav.parts a {{ margin-right: 12px; }}
"""

# No script, no fetch, no frame: the report is data, whatever a result holds.
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _rect(box: Box, css: str, pad: float = 0.0) -> str:
    x, y, w, h = box
    return (
        f'<rect class="{css}" x="{_num(x - pad)}" y="{_num(y - pad)}"'
        f' width="{_num(w + 2 * pad)}" height="{_num(h + 2 * pad)}"/>'
    )


def _overlay(page: PageView, index: int) -> str:
    """The SVG over the image: viewBox in source pixels, so boxes land where the JSON says."""
    assert page.width is not None
    assert page.height is not None
    side = max(page.width, page.height)
    font = max(10.0, side * 0.014)
    pad = max(3.0, side * 0.006)  # balloons drawn just outside their lines, both stay visible
    parts = [
        f'<svg viewBox="0 0 {page.width} {page.height}" preserveAspectRatio="none"'
        ' xmlns="http://www.w3.org/2000/svg" aria-hidden="true">'
    ]
    parts += [_rect(box, "panel") for box in page.panels]
    parts += [_rect(box, "balloon", pad) for box in page.balloons]
    for region in page.regions:
        if region.box is None:
            continue
        x, y, w, _h = region.box
        # The number sits beside the box (left, or right where the page ends), never over the
        # lettering or the next line's box.
        label_w = font * 0.62 * len(str(region.number)) + pad
        label_x, anchor = (x - pad, "end") if x - label_w > 0 else (x + w + pad, "start")
        label_y = min(y + font * 0.8, float(page.height))
        parts.append(
            f'<g class="region{" low" if region.low else ""}" id="p{index}-r{region.number}">'
            f"<title>{region.number}: {esc(region.text[:300])}</title>{_rect(region.box, 'box')}"
            f'<text x="{_num(label_x)}" y="{_num(label_y)}" font-size="{_num(font)}"'
            f' text-anchor="{anchor}">{region.number}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _region_item(region: RegionView, index: int) -> str:
    conf = "?" if region.confidence is None else f"{region.confidence:.2f}"
    where = []
    if region.panel is not None:
        where.append(f"panel {esc(region.panel)}")
    if region.balloon is not None:
        where.append(f"balloon {esc(region.balloon)}")
    return (
        f'<li class="region-text{" low" if region.low else ""}" id="t{index}-r{region.number}">'
        f'<a class="num" href="#p{index}-r{region.number}">{region.number}</a>'
        f"{esc(region.text)} "
        f'<span class="conf">({conf}{"; " + "; ".join(where) if where else ""})</span>'
        + (' <span class="badge">low confidence</span>' if region.low else "")
        + (f' <span class="note">{esc(region.note)}</span>' if region.note else "")
        + "</li>"
    )


def _page_html(page: PageView, index: int) -> str:
    data = page.data
    meta = [f"{esc(data.get(key))}" for key in ("ocr_method", "lang", "reading_direction") if data.get(key)]
    size = f"{page.width}x{page.height}" if page.width and page.height else "size unknown"
    meta += [size, f"{len(page.regions)} regions"]
    source = data.get("source_image_path")
    member = data.get("source_archive_member")
    shown_source = f"{source}" + (f" :: {member}" if isinstance(member, str) else "")
    parts = [
        f'<article class="page" id="page-{index}"><h2>{esc(page.canonical_id)}</h2>',
        f'<p class="meta">{" · ".join(meta)}</p>',
        f'<p class="meta">{esc(shown_source)}</p>' if isinstance(source, str) else "",
        *(f'<p class="note">{esc(note)}</p>' for note in page.notes),
        '<div class="cols"><figure class="page-figure">',
    ]
    if page.image_uri:
        parts.append(f'<img src="{page.image_uri}" alt="page {esc(page.canonical_id)}">')
    elif page.width and page.height:
        parts.append(f'<div class="placeholder" style="aspect-ratio: {page.width} / {page.height}"></div>')
    if page.width and page.height:
        parts.append(_overlay(page, index))
    parts.append("</figure>")
    if page.regions:
        parts.append('<ol class="regions">' + "".join(_region_item(r, index) for r in page.regions) + "</ol>")
    else:
        parts.append('<p class="meta">no text regions</p>')
    parts.append("</div></article>")
    return "".join(parts)


def _failures_html(failures: Sequence[Failure]) -> str:
    if not failures:
        return ""
    rows = "".join(
        f"<tr><td>{esc(f.canonical_id or '-')}</td><td>{esc(f.kind)}</td><td>{esc(f.reason)}</td></tr>"
        for f in failures
    )
    return (
        f'<h2 id="failures">Failures ({len(failures)})</h2><table class="failures">'
        f"<tr><th>page</th><th>what</th><th>reason</th></tr>{rows}</table>"
    )


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>{body}</body></html>\n"
    )


_LEGEND = (
    '<p class="legend"><span><i style="border-top: 2px solid #ff00ff"></i>region (number = reading order)'
    '</span><span><i style="border-top: 2px solid #ff8c00"></i>confidence below 0.5</span>'
    '<span><i style="border-top: 2px dotted #00a651"></i>balloon</span>'
    '<span><i style="border-top: 2px dashed #1f6fff"></i>panel (the extent of its text)</span></p>'
)


def _write(path: Path, text: str) -> None:
    """Write atomically: a browser left open on the old report never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8", errors="replace")
    os.replace(tmp, path)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class Written:
    index: Path  # the report's index.html
    pages: int
    failures: int


def write_report(
    results_dir: Path,
    out_dir: Path | None = None,
    failures: Sequence[Failure] = (),
    *,
    pages_per_file: int = PAGES_PER_FILE,
) -> Written:
    """Write the report of ``results_dir`` into ``out_dir`` (default ``results_dir/report``);
    return where its ``index.html`` is and what it holds. ``failures`` (dead letters, say) are
    listed with the result files that do not parse. More than ``pages_per_file`` pages go into
    ``page-NNNN.html`` files that index.html links to."""
    out_dir = out_dir if out_dir is not None else results_dir / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    loaded, unreadable = load_results(results_dir, skip=out_dir)
    loaded.sort(key=lambda item: sort_key(item.canonical_id))
    all_failures = [*failures, *sorted(unreadable, key=lambda f: sort_key(f.canonical_id))]
    where = esc(path_text(results_dir.resolve()))
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    header = (
        f'<header><h1>OCR report</h1><p class="meta">{_count(len(loaded), "page")} in {where}'
        f" · {_count(len(all_failures), 'failure')} · written {stamp}</p>{_LEGEND}</header>"
    )
    index = out_dir / "index.html"
    if not loaded:
        body = header + '<p class="note" id="no-results">no results in this folder</p>'
        _write(index, _document("OCR report: no results", body + _failures_html(all_failures)))
        return Written(index, len(loaded), len(all_failures))
    parts = [loaded[i : i + pages_per_file] for i in range(0, len(loaded), pages_per_file)]
    if len(parts) == 1:
        pages = "".join(_page_html(page_view(item), n) for n, item in enumerate(loaded, start=1))
        _write(index, _document("OCR report", header + _failures_html(all_failures) + pages))
        return Written(index, len(loaded), len(all_failures))
    links = []
    number = 1
    for part_no, part in enumerate(parts, start=1):
        name = f"page-{part_no:04d}.html"
        links.append(
            f'<li><a href="{name}">{name}</a>: {esc(part[0].canonical_id)} … {esc(part[-1].canonical_id)}'
            f" ({len(part)} pages)</li>"
        )
        nav = f'<nav class="parts"><a href="index.html">index</a> part {part_no} of {len(parts)}</nav>'
        body = "".join(_page_html(page_view(item), number + k) for k, item in enumerate(part))
        number += len(part)
        _write(out_dir / name, _document(f"OCR report, part {part_no}", header + nav + body))
    toc = f'<h2>Pages</h2><ol class="parts">{"".join(links)}</ol>'
    _write(index, _document("OCR report", header + _failures_html(all_failures) + toc))
    return Written(index, len(loaded), len(all_failures))
