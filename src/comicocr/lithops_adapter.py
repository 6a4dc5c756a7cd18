"""The only importer of Lithops: one long-lived FunctionExecutor shared by every batch.

A Lithops job costs ~0.4 s end to end on localhost, so the consumer ships several
pages per call (a chunk) and keeps one executor alive. This is where the typed
contract becomes plain data and back (contract.py): nothing else sees the wire. ``run_chunks`` blocks and
is meant to be called through ``asyncio.to_thread``; it never passes ``timeout=``
to ``wait()`` (that installs a SIGALRM handler, which only works on the main
thread): deadlines are enforced on the asyncio side.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import logging
import os
import shutil
import sys
import tempfile
import threading
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from comicocr.contract import Chunk, MalformedWire, Outcome, outcome_from_wire
from comicocr.errors import ConfigError
from comicocr.remote import process_chunk

log = logging.getLogger(__name__)


def load_config(
    path: Path | None, backend: str | None = None, storage: str | None = None, workers: int | None = None
) -> dict[str, Any]:
    """Read lithops.yaml (explicit path, ./lithops.yaml, or the packaged default) and apply flags."""
    if path is None and Path("lithops.yaml").is_file():
        path = Path("lithops.yaml")
    try:
        text = (
            path.read_text()
            if path
            else resources.files("comicocr").joinpath("default_lithops.yaml").read_text()
        )
        config: dict[str, Any] = yaml.safe_load(text) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read Lithops config {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:  # one line: what YAML found wrong, and where
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(
            f"Lithops config {path} is not valid YAML: {getattr(exc, 'problem', exc)}{where}"
        ) from None
    if not isinstance(config, dict):
        raise ConfigError(f"Lithops config {path} is not a mapping of sections (lithops:, localhost:, ...)")
    config = copy.deepcopy(config)
    section = config.setdefault("lithops", {})
    bad = [name for name, value in config.items() if not isinstance(value, dict)]
    if bad:
        raise ConfigError(f"Lithops config {path}: section {bad[0]!r} is not a mapping of keys")
    if backend:
        section["backend"] = backend
    if storage:
        section["storage"] = storage
    section.setdefault("backend", "localhost")
    section.setdefault("storage", "localhost")
    if section["backend"] == "localhost":
        local = config.setdefault("localhost", {})
        local.setdefault("version", 1)
        local.setdefault("runtime", sys.executable)
        if workers:
            local["worker_processes"] = workers
    elif workers:
        section["max_workers"] = workers
    return config


class LithopsDispatcher:
    """Runs chunks of pages through one FunctionExecutor and returns per-page outcomes."""

    def __init__(self, config: dict[str, Any], task_timeout_s: int | None = None) -> None:
        if config["lithops"]["backend"] == "localhost":
            _private_temp_dir()
        import lithops

        self.task_timeout_s = task_timeout_s  # Lithops ends a call that runs longer
        self._lock = threading.Lock()  # guards map() and clean(): FunctionExecutor is not thread-safe
        self.config = config
        self.backend = config["lithops"]["backend"]
        # log_level=None: Lithops leaves logging alone; logs.py renders its lines with ours.
        self._fe = lithops.FunctionExecutor(config=config, log_level=None)

    def run_chunks(self, chunks: list[Chunk]) -> list[list[Outcome]]:
        """Run every chunk as one Lithops call; a call that fails as a whole
        (worker crash, OOM kill, timeout) yields a retryable outcome for each of its pages.

        Several batches may be in flight at once (one per calling thread): the next batch's
        calls start while the last pages of this one still run, so workers do not idle
        between batches. Only submitting and cleaning touch shared executor state.
        """
        with self._lock:
            iterdata = [{"chunk": c.to_wire()} for c in chunks]
            fs = self._fe.map(process_chunk, iterdata, timeout=self.task_timeout_s)
        try:
            self._fe.wait(fs, throw_except=False, show_progressbar=False, clean_jobs=False)
            return [self._outcomes_of(f, c) for f, c in zip(fs, chunks, strict=True)]
        finally:
            self._forget(fs)

    def _forget(self, fs: list[Any]) -> None:
        """Delete the finished job's data now, in this thread. Lithops' ``clean()`` hands the
        work to a background cleaner that fell ~1,000 jobs behind a consumer starting a job
        a second (bench/soak.py): without this, job files grow without bound."""
        from lithops.constants import JOBS_DIR, JOBS_PREFIX, LOGS_DIR
        from lithops.storage.utils import clean_bucket

        with self._lock:
            done = set(map(id, fs))
            self._fe.futures = [f for f in self._fe.futures if id(f) not in done]
        storage = self._fe.internal_storage
        for job_key in {f.job_key for f in fs}:
            try:
                clean_bucket(storage.storage, storage.bucket, f"{JOBS_PREFIX}/{job_key}/", sleep=0)
            except Exception:
                log.debug("lithops job clean-up failed", exc_info=True)
            if self.backend == "localhost":  # the localhost runner's own marker and log
                for path in (
                    os.path.join(JOBS_DIR, f"{job_key}.done"),
                    os.path.join(LOGS_DIR, f"{job_key}.log"),
                ):
                    with contextlib.suppress(OSError):
                        os.remove(path)

    @staticmethod
    def _outcomes_of(future: Any, chunk: Chunk) -> list[Outcome]:
        error: str | None = None
        if future.error:
            try:
                future.result(throw_except=True)
            except BaseException as exc:
                error = f"Lithops call failed: {type(exc).__name__}: {str(exc)[:300]}"
            else:
                error = "Lithops call failed"
        else:
            try:
                result = future.result(throw_except=False)
            except Exception as exc:
                error = f"cannot read Lithops result: {type(exc).__name__}: {str(exc)[:300]}"
            else:
                try:
                    if isinstance(result, list) and len(result) == len(chunk.pages):
                        return [outcome_from_wire(o) for o in result]
                except MalformedWire:
                    pass
                error = "Lithops call returned a malformed result"
        return chunk.whole_call_failed(error)

    def close(self) -> None:
        with self._lock:
            try:
                self._fe.clean(clean_cloudobjects=True, force=True, on_exit=True)
            except Exception:
                log.debug("lithops clean at close failed", exc_info=True)


def _private_temp_dir() -> str | None:
    """A Lithops temp folder of this process's own, made before Lithops is imported.

    Lithops' localhost backend keeps its package copy, runner, job files and storage in one
    folder per user (``tempfile.gettempdir()/lithops-USER``, fixed when lithops is imported).
    Two consumers on one machine then replace each other's copy while a job process imports
    from it: ``ModuleNotFoundError: lithops.monitoring.job_monitor`` and a job that never
    ends (measured: two ``run``s beside a third executor). Job processes inherit TMPDIR, so
    they find the same folder. Returns None when Lithops is already imported (too late).
    """
    if "lithops" in sys.modules:
        return None
    path = tempfile.mkdtemp(prefix="comicocr-lithops-")
    os.environ["TMPDIR"] = path
    tempfile.tempdir = None  # gettempdir() caches: let it read TMPDIR again
    # The folder lives as long as the process: Lithops fixed its paths to it at import, so a
    # later executor of this process (a benchmark's second run) works in it too, and so does
    # everything else here that makes a temporary file. Removed at exit.
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path
