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

import functools
import os
import posixpath
import re
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from comicocr.errors import PermanentError
from comicocr.ids import id_problem
from comicocr.messages import IMAGE_SUFFIXES

ARCHIVE_SUFFIXES = (".cbz", ".zip")
NOT_SUPPORTED = {
    ".cbr": "CBR (RAR) archives",
    ".rar": "RAR archives",
    ".cb7": "CB7 (7-Zip) archives",
    ".7z": "7-Zip archives",
    ".cbt": "CBT (tar) archives",
    ".pdf": "PDF files",
}
MAX_PAGES = 10_000  # pages in one archive or folder: more is a mistake or a bomb
MAX_ENTRIES = 50_000  # entries of any kind in an archive's index, checked before it is parsed
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
            (0, int(part)) if part.isdecimal() else (1, part.casefold())
            for part in re.split(r"(\d+)", segment)
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
    return not hidden and posixpath.splitext(base)[1].lower() in IMAGE_SUFFIXES


def _archive_members(path: str) -> list[str]:
    archive = _open_archive(path)
    names = [info.filename for info in archive.infolist() if not info.is_dir() and _is_page(info.filename)]
    if len(names) > MAX_PAGES:
        raise PermanentError(f"archive has {len(names)} pages; at most {MAX_PAGES} are read from one archive")
    return names


def _folder_files(folder: Path) -> list[str]:
    names = []
    for root, dirs, files in os.walk(folder):  # symlinked folders are not followed
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__MACOSX"]
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
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise PermanentError("is a folder named like an archive: rename it")
        if not stat.S_ISREG(info.st_mode):  # a FIFO or a device would block the reader
            raise PermanentError("archive is not a regular file")
        return _opened(path, info.st_size, info.st_mtime_ns)
    except FileNotFoundError:
        raise PermanentError("archive not found") from None
    except PermissionError:
        raise PermanentError("archive is not readable (permission denied)") from None
    except (zipfile.BadZipFile, OSError, ValueError) as exc:  # ValueError: a name that is not UTF-8
        raise PermanentError(f"not a readable ZIP/CBZ archive: {str(exc)[:120]}") from None


@functools.lru_cache(maxsize=2)
def _opened(path: str, size: int, mtime_ns: int) -> zipfile.ZipFile:
    """An open archive, kept for the next page: a worker reads a book's pages one after
    another, and parsing a 10,000-page index for each would cost more than the page. Keyed
    by size and mtime, so a rewritten file is opened afresh. Never closed by callers."""
    entries = _declared_entries(path)
    if entries > MAX_ENTRIES:
        raise PermanentError(f"archive lists {entries} entries; at most {MAX_ENTRIES} are read")
    return zipfile.ZipFile(path)


def _declared_entries(path: str) -> int:
    """The entry count the end-of-archive record declares, read before zipfile parses the
    index (a few million entries would take gigabytes). 0 when there is no record: zipfile
    then says what is wrong."""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        tail_start = max(0, handle.tell() - 65_557)  # the record (22 bytes) + its longest comment
        handle.seek(tail_start)
        tail = handle.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) < at + 22:
        return 0
    (entries,) = struct.unpack_from("<H", tail, at + 10)
    zip64 = tail.rfind(b"PK\x06\x06", 0, at)  # the zip64 record holds the true count
    if entries == 0xFFFF and zip64 >= 0 and len(tail) >= zip64 + 40:
        (entries,) = struct.unpack_from("<Q", tail, zip64 + 32)
    return int(entries)


def read_member(path: str, member: str, max_bytes: int) -> bytes:
    """One page's bytes from an archive, refusing members over ``max_bytes`` (by the size the
    archive declares, and again by what actually inflates: a header can lie)."""
    archive = _open_archive(path)  # stays open for the next page of the book (_opened)
    try:
        info = archive.getinfo(member)
    except KeyError:
        raise PermanentError(f"archive has no page named {member[:200]!r}") from None
    if info.file_size > max_bytes:
        raise PermanentError(f"page {member[:200]!r} is larger than {max_bytes} bytes")
    try:
        with archive.open(info) as handle:
            data = handle.read(max_bytes + 1)
    except NotImplementedError:  # before RuntimeError, its base class
        raise PermanentError(f"page {member[:200]!r} uses a compression zipfile cannot read") from None
    except RuntimeError:  # zipfile's way of saying "encrypted, no password"
        raise PermanentError(f"page {member[:200]!r} is encrypted") from None
    except (zipfile.BadZipFile, zlib.error, OSError, ValueError) as exc:
        raise PermanentError(f"page {member[:200]!r} is corrupt in the archive: {str(exc)[:120]}") from None
    if len(data) > max_bytes:
        raise PermanentError(f"page {member[:200]!r} is larger than {max_bytes} bytes")
    return data
