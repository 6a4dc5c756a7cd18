"""A manifest's pages, one at a time: the rows that may be read, archives and folders opened
into their pages, every refusal reported with its line number, in line order.

Nothing here holds the manifest whole: the rows come from ``manifest.iter_manifest`` and the
only per-page state is the scan's ``IdSet`` (25-50 bytes an id), so a million-row backfill
costs tens of MB more than a thousand-row one, not the manifest's size (BENCHMARKS.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from comicocr import archives, storage
from comicocr.errors import PageError
from comicocr.locations import scheme_of
from comicocr.manifest import RejectedRow, Scan, iter_manifest, scan_manifest
from comicocr.messages import PageMessage


def page_message(page: archives.Page, method: str | None) -> PageMessage:
    """The queue message of one page (an image, or an archive's or folder's member)."""
    return PageMessage(
        canonical_id=page.canonical_id, image_path=page.image_path, member=page.member, method=method
    )


@dataclass
class ManifestPages:
    """``for page in ManifestPages(...)``: each page to send; ``rejected`` counts refusals as
    they are reported (``report`` gets each, in line order). Iterating again reads the file
    again: the second time, refusals are not reported twice."""

    manifest: Path
    image_path_prefix: str | None
    allowed_roots: list[str]
    allow_http: bool
    method: str | None = None
    report: Callable[[RejectedRow], None] = lambda _row: None
    local_images: bool = True  # off: the workers run elsewhere, a local file is refused
    scan: Scan = field(init=False)
    rejected: int = 0
    _reported: bool = False

    def __post_init__(self) -> None:
        self.scan = scan_manifest(self.manifest)  # a file that cannot be read fails here, at once

    @property
    def rows(self) -> int:
        return self.scan.rows

    def __iter__(self) -> Iterator[PageMessage]:
        quiet = self._reported
        self._reported = True
        earlier = iter(sorted(self.scan.rejected, key=lambda r: r.line))
        pending = next(earlier, None)

        def refuse(row: RejectedRow) -> None:
            if not quiet:
                self.rejected += 1
                self.report(row)

        ids = self.scan.ids
        for row in iter_manifest(self.manifest, self.scan, self.image_path_prefix):
            while pending is not None and pending.line < row.line:  # the scan's, in line order
                refuse(pending)
                pending = next(earlier, None)
            try:
                storage.check_allowed(row.image_path, self.allowed_roots, self.allow_http)
            except PageError as exc:
                outside = "outside the allowed roots" in str(exc)
                hint = " (add --allow-root to read from there)" if outside else ""
                refuse(RejectedRow(row.line, f"{exc}{hint}"))
                continue
            if not self.local_images and not scheme_of(row.image_path):
                why = "a file on this machine, but Lithops' workers run elsewhere and cannot read it"
                refuse(RejectedRow(row.line, f"{row.image_path[:200]}: {why} (store it in s3://)"))
                continue
            try:
                found, refused = archives.expand(row.canonical_id, row.image_path)
            except PageError as exc:
                refuse(RejectedRow(row.line, f"{row.image_path[:200]}: {exc}"))
                continue
            for r in refused:
                refuse(RejectedRow(row.line, f"{row.image_path[:200]}: {r.where!r}: {r.reason}"))
            for page in found:
                # A page of an archive or folder named like a row, or like another row's page
                # (one of this row's own, seen on an earlier reading, carries this row's line)
                own = page.canonical_id == row.canonical_id
                first = None if own else ids.add(page.canonical_id, row.line)
                if first not in (None, row.line):
                    why = f"{page.member or page.image_path}: duplicate canonical_id {page.canonical_id!r}"
                    refuse(RejectedRow(row.line, why[:400]))
                    continue
                yield page_message(page, self.method)
        while pending is not None:
            refuse(pending)
            pending = next(earlier, None)
