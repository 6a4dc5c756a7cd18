"""A local folder: regular files only on read, temp file + fsync + rename on write."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

from comicocr.errors import PermanentError, RetryableError

# Errors no retry can mend: the page goes to the DLQ at once, with the reason.
_PERMANENT_WRITE_ERRNOS = {errno.ENAMETOOLONG, errno.EISDIR, errno.ENOTDIR, errno.ELOOP, errno.EINVAL}


def read_file(path: str, max_bytes: int) -> bytes:
    """A regular file only: a FIFO or a device would block the worker or never end."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer returns at once instead of hanging.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise PermanentError(f"image not found: {path[:200]}") from None
    except OSError as exc:  # name too long, a directory, no permission...: no retry mends it
        raise PermanentError(f"cannot read image {path[:200]}: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise PermanentError(f"image path is a directory: {path[:200]}")
        raise PermanentError(f"image path is not a regular file (a FIFO, socket or device): {path[:200]}")
    with os.fdopen(fd, "rb") as handle:
        try:
            return handle.read(max_bytes + 1)
        except OSError as exc:
            raise PermanentError(f"cannot read image {path[:200]}: {exc.strerror}") from None


def write_file(location: str, data: bytes) -> None:
    """Readers see the old file or the new one, never half of one; durable on return."""
    path = Path(location)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())  # durable before the message is deleted
            os.replace(tmp, path)  # atomic: the same key is replaced whole, never duplicated
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        if exc.errno in _PERMANENT_WRITE_ERRNOS:
            raise PermanentError(f"cannot write result {location[:200]}: {exc.strerror}") from None
        raise RetryableError(f"cannot write result: {exc.strerror}") from None
