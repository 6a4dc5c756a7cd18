"""Skip-if-done: which of a block of ids already have a result, exactly, at a cost that
follows the ids asked rather than what the output holds."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from comicocr.errors import PageError
from comicocr.ids import check_id
from comicocr.storage.objects import is_object, mapped, object_path, store_for
from comicocr.storage.places import exists_or_false, result_name

# In an object store, fewer ids than this under one prefix are checked one request each;
# more, by listing.
_LIST_FROM = 20
# A listing covers the key range of the ids asked, and stops after this many keys per id asked
# (at least one page of 1,000): a few pages, or an unsorted block, into a prefix holding a
# million results do not list the million. The ids past where it stopped are asked one by one.
_KEYS_PER_ID = 4
_MIN_BUDGET = 1000  # keys: one listing page, however few ids are asked


def existing_results(output: str, canonical_ids: Iterable[str]) -> set[str]:
    """The ids among ``canonical_ids`` whose result exists under ``output``: exactly, and
    with a cost that follows the ids asked, not what the output holds.

    Skip-if-done reads a manifest a block at a time, so this is asked again and again about
    one big folder. A local folder: one ``lstat`` per id (a few microseconds; a listing would
    read the whole folder for every block). S3, Azure Blob, GCS: one listing request per
    1,000 keys over the range of names asked (a manifest in id order lists each prefix about
    once over a whole run), not one request per page. A result that is a symlink is checked
    on its own, as ``result_location`` does (one pointing out of the output is no result).
    A store whose SDK is missing is a ConfigError: every page "not done" would be a lie.
    """
    by_folder: dict[str, list[str]] = {}
    for cid in canonical_ids:
        try:
            check_id(cid)
        except ValueError:
            continue  # never a result: its worker dead-letters it, named
        folder, _, _ = cid.rpartition("/")
        by_folder.setdefault(folder, []).append(cid)
    found: set[str] = set()
    remote = is_object(output)
    if remote:  # the SDK is there, or a ConfigError says which extra to install
        store_for(object_path(output).scheme)
    for folder, ids in by_folder.items():
        if not remote:
            found.update(_local_results(output, folder, ids))
            continue
        one_by_one = ids
        if len(ids) >= _LIST_FROM:
            try:
                listed, up_to = _listed(output, folder, sorted(result_name(cid) for cid in ids))
            except PageError:  # may write but not list (an IAM policy), a blip: one by one
                listed, up_to = set(), ""
            found.update(cid for cid in ids if result_name(cid) in listed)
            one_by_one = [cid for cid in ids if result_name(cid) > up_to]
        found.update(cid for cid in one_by_one if exists_or_false(output, cid))
    return found


def _local_results(output: str, folder: str, ids: list[str]) -> list[str]:
    """The ids of one folder of a local output that have a result: a regular file, or a
    symlink the worker would accept."""
    root = Path(output).resolve()
    where = (root / folder).resolve()
    if not where.is_relative_to(root):  # a symlinked folder pointing out: nothing is done there
        return []
    found = []
    for cid in ids:
        try:
            mode = os.lstat(where / result_name(cid)).st_mode
        except OSError:  # not there, or cannot be asked: not done
            continue
        if stat.S_ISREG(mode) or (stat.S_ISLNK(mode) and exists_or_false(output, cid)):
            found.append(cid)
    return found


def _listed(output: str, folder: str, names: list[str]) -> tuple[set[str], str]:
    """The result objects among the (sorted) ``names`` in one prefix of an object-store
    output, and the name the listing reached: names after it were not listed (the key budget
    ran out)."""
    path = object_path(output.rstrip("/"))
    prefix = "".join(f"{p}/" for p in (path.key, folder) if p)
    wanted, found = set(names), set[str]()
    budget = max(_MIN_BUDGET, _KEYS_PER_ID * len(names))
    reached = ""
    with mapped(path, "cannot list results"):
        for keys in path.store.list_from(path.bucket, prefix, prefix + names[0]):
            here = [k[len(prefix) :] for k in keys]
            found.update(n for n in here if n in wanted)
            budget -= len(keys)
            # How far the listing got, from object names only: sub-folders ("sub/") may come
            # out of order (Azurite puts them first, fake-gcs-server repeats them on every page)
            reached = max([reached, *(n for n in here if not n.endswith("/"))])
            if reached >= names[-1]:
                return found, names[-1]
            if budget <= 0:
                return found, reached
    return found, names[-1]
