"""A set of canonical ids at 25-50 bytes an id, for the per-page sets of a million-page run.

A Python set of a million id strings takes ~110 MB (and a set of their hashes as ints about
the same), and a run needs two such sets (the manifest's ids, to refuse duplicates; the pages
it sent, to know when they are all settled). ``IdSet`` keeps a 64-bit hash of each id with a
32-bit value (a line number) in two flat arrays (``array.array``: no numpy on the consumer
side), probed linearly, at most half full: 25-50 MB per million ids (12 bytes a slot).

Two different ids with the same 64-bit hash (blake2b) would count as one: for a million ids
the chance is about 3 in 100 million.
"""

from __future__ import annotations

import hashlib
from array import array

_EMPTY = 0  # no id hashes to 0 (``_hash`` maps it to 1)
_GONE = 0xFFFFFFFF  # a value meaning "removed": the slot stays taken so probing goes past it


def _hash(canonical_id: str) -> int:
    digest = hashlib.blake2b(canonical_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little") or 1


class IdSet:
    """Ids, each with a small value (0..2**32-2): ``add``, ``get``, ``discard``, ``len``."""

    def __init__(self, capacity: int = 1024) -> None:
        size = 1 << max(4, (capacity * 2 - 1).bit_length())
        self._keys = array("Q", bytes(8 * size))
        self._values = array("L" if array("L").itemsize == 4 else "I", bytes(4 * size))
        self._taken = 0  # slots holding a key, removed ones included
        self._live = 0

    def __len__(self) -> int:
        return self._live

    def __contains__(self, canonical_id: object) -> bool:
        return isinstance(canonical_id, str) and self.get(canonical_id) is not None

    def _slot(self, key: int) -> int:
        keys, mask = self._keys, len(self._keys) - 1
        i = key & mask
        while True:
            found = keys[i]
            if found in (key, _EMPTY):
                return i
            i = (i + 1) & mask

    def get(self, canonical_id: str) -> int | None:
        """The id's value, or None when it is not in the set."""
        i = self._slot(_hash(canonical_id))
        if self._keys[i] == _EMPTY or self._values[i] == _GONE:
            return None
        return self._values[i]

    def add(self, canonical_id: str, value: int = 0) -> int | None:
        """Add the id with ``value``; when it is there already, keep it and return its value."""
        key = _hash(canonical_id)
        i = self._slot(key)
        if self._keys[i] != _EMPTY:
            if self._values[i] != _GONE:
                return self._values[i]
        else:
            if (self._taken + 1) * 2 > len(self._keys):
                self._grow()
                i = self._slot(key)
            self._keys[i] = key
            self._taken += 1
        self._values[i] = min(value, _GONE - 1)
        self._live += 1
        return None

    def discard(self, canonical_id: str) -> bool:
        """Remove the id; return whether it was there."""
        i = self._slot(_hash(canonical_id))
        if self._keys[i] == _EMPTY or self._values[i] == _GONE:
            return False
        self._values[i] = _GONE
        self._live -= 1
        return True

    def _grow(self) -> None:
        keys, values = self._keys, self._values
        self.__init__(len(keys))  # type: ignore[misc]  # twice the room: capacity * 2 slots
        for key, value in zip(keys, values, strict=True):
            if key == _EMPTY or value == _GONE:
                continue
            i = self._slot(key)
            self._keys[i] = key
            self._values[i] = value
            self._taken += 1
            self._live += 1
