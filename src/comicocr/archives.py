"""Comics as people keep them: CBZ archives and folders of page images, one page each.

A manifest row (or ``enqueue --image``) may name a ``.cbz``/``.zip`` archive or a folder
instead of one image. It becomes one page per image inside, named ``<id>/<page>``: the
page's path inside, without its suffix (``book/ch01/002``), in natural order (``2.png``
before ``10.png``; chapters in folder order). An archive's pages stay inside it: the message
names the archive and the member, and the worker reads that member alone, in memory. Nothing
is ever extracted to disk, so a member named ``../../etc/x.png`` cannot write anywhere; its
id is refused (ids.py) and the rest of the archive goes through.

Archives are read from local disk (or a mounted share) for now. CBR (RAR), CB7, CBT and PDF
are refused with a clear line: no well-kept offline reader ships in a wheel we already use.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from comicocr.errors import PermanentError
from comicocr.ids import id_problem

ARCHIVE_SUFFIXES = (".cbz", ".zip")
PAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")
NOT_SUPPORTED = {
    ".cbr": "CBR (RAR) archives",
    ".rar": "RAR archives",
    ".cb7": "CB7 (7-Zip) archives",
    ".7z": "7-Zip archives",
    ".cbt": "CBT (tar) archives",
    ".pdf": "PDF files",
}
MAX_PAGES = 10_000  # pages in one archive or folder: more is a mistake or a bomb
MAX_MEMBER_NAME = 1024


@dataclass(frozen=True)
class Page:
    canonical_id: str
    image_path: str
    member: str | None = None  # the page's name inside the archive at image_path


@dataclass(frozen=True)
class Refused:
    where: str  # the member or file
    reason: str


def natural_key(path: str) -> tuple[tuple[tuple[int, int | str], ...], ...]:
    """Sort key: folder by folder, digits as numbers (``2`` before ``10``), case ignored."""
    return tuple(
        tuple(
            (0, int(part)) if part.isdigit() else (1, part.casefold()) for part in re.split(r"(\d+)", segment)
        )
        for segment in path.split("/")
    )


def is_container(image_path: str) -> bool:
    """Does this path name many pages (an archive or a folder) rather than one image?"""
    if "://" in image_path:
        return image_path.lower().endswith(ARCHIVE_SUFFIXES)
    return image_path.lower().endswith(ARCHIVE_SUFFIXES) or Path(image_path).is_dir()


def expand(canonical_id: str, image_path: str) -> tuple[list[Page], list[Refused]]:
    """One manifest row -> its pages (itself when it is one image) and the members refused.
    Raises PermanentError when the row as a whole cannot be read (one line for the user)."""
    suffix = posixpath.splitext(image_path.lower())[1]
    if suffix in NOT_SUPPORTED:
        raise PermanentError(
            f"{NOT_SUPPORTED[suffix]} are not supported yet: convert to CBZ or a folder of images"
        )
    if not is_container(image_path):
        return [Page(canonical_id, image_path)], []
    if "://" in image_path:
        raise PermanentError("archives are read from local disk only for now: copy it here or unpack it")
    if suffix in ARCHIVE_SUFFIXES:
        return _pages(canonical_id, image_path, _archive_members(image_path), in_archive=True)
    return _pages(canonical_id, image_path, _folder_files(Path(image_path)), in_archive=False)


def _is_page(name: str) -> bool:
    base = posixpath.basename(name)
    hidden = base.startswith(".") or name.startswith("__MACOSX/")  # macOS resource forks, dot files
    return not hidden and posixpath.splitext(base)[1].lower() in PAGE_SUFFIXES


def _archive_members(path: str) -> list[str]:
    with _open_archive(path) as archive:
        names = [
            info.filename for info in archive.infolist() if not info.is_dir() and _is_page(info.filename)
        ]
    if len(names) > MAX_PAGES:
        raise PermanentError(f"archive has {len(names)} pages; at most {MAX_PAGES} are read from one archive")
    return names


def _folder_files(folder: Path) -> list[str]:
    names = []
    for root, dirs, files in os.walk(folder):  # symlinked folders are not followed
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rel = Path(root).relative_to(folder).as_posix()
        names += [f if rel == "." else f"{rel}/{f}" for f in files if _is_page(f)]
        if len(names) > MAX_PAGES:
            raise PermanentError(f"folder has more than {MAX_PAGES} pages; split it")
    return names


def _pages(
    canonical_id: str, where: str, names: list[str], in_archive: bool
) -> tuple[list[Page], list[Refused]]:
    if not names:
        raise PermanentError("no page images inside (png, jpg, webp, tif, bmp, gif)")
    pages, refused, seen = [], [], set()
    for name in sorted(names, key=natural_key):
        page_id = f"{canonical_id}/{posixpath.splitext(name)[0]}"
        problem = id_problem(page_id) if len(name) <= MAX_MEMBER_NAME else "name is too long"
        if problem is None and page_id in seen:
            problem = f"another page inside is also {page_id!r}"
        if problem:
            refused.append(Refused(name[:200], problem))
            continue
        seen.add(page_id)
        if in_archive:
            pages.append(Page(page_id, where, name))
        else:
            pages.append(Page(page_id, str(Path(where) / name)))
    return pages, refused


def _open_archive(path: str) -> zipfile.ZipFile:
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO or a device would block the reader
            raise PermanentError("archive is not a regular file")
        return zipfile.ZipFile(path)
    except FileNotFoundError:
        raise PermanentError("archive not found") from None
    except PermissionError:
        raise PermanentError("archive is not readable (permission denied)") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise PermanentError(f"not a readable ZIP/CBZ archive: {str(exc)[:120]}") from None


def read_member(path: str, member: str, max_bytes: int) -> bytes:
    """One page's bytes from an archive, refusing members over ``max_bytes`` (by the size the
    archive declares, and again by what actually inflates: a header can lie)."""
    with _open_archive(path) as archive:
        try:
            info = archive.getinfo(member)
        except KeyError:
            raise PermanentError(f"archive has no page named {member[:200]!r}") from None
        if info.file_size > max_bytes:
            raise PermanentError(f"page {member[:200]!r} is larger than {max_bytes} bytes")
        try:
            with archive.open(info) as handle:
                data = handle.read(max_bytes + 1)
        except RuntimeError:  # zipfile's way of saying "encrypted, no password"
            raise PermanentError(f"page {member[:200]!r} is encrypted") from None
        except (zipfile.BadZipFile, zlib.error, OSError, NotImplementedError) as exc:
            raise PermanentError(
                f"page {member[:200]!r} is corrupt in the archive: {str(exc)[:120]}"
            ) from None
    if len(data) > max_bytes:
        raise PermanentError(f"page {member[:200]!r} is larger than {max_bytes} bytes")
    return data
