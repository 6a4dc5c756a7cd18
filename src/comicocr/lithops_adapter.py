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
import importlib.metadata
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from comicocr.contract import Chunk, MalformedWire, Outcome, outcome_from_wire
from comicocr.errors import ConfigError
from comicocr.estimate import PROFILES
from comicocr.lithops_config import (
    apply_flags,
    find_config,
    memory_needed_mb,
    read_config,
    unknown_backends,
    unknown_keys,
)
from comicocr.remote import process_chunk

log = logging.getLogger(__name__)


def load_config(
    path: Path | None, backend: str | None = None, storage: str | None = None, workers: int | None = None
) -> dict[str, Any]:
    """The Lithops config a run uses (``lithops_config.find_config``'s order), flags applied."""
    return apply_flags(read_config(find_config(path)), backend, storage, workers)


def lithops_version() -> str:
    return importlib.metadata.version("lithops")


def check_config(config: dict[str, Any], method: str, task_timeout_s: int) -> list[str]:
    """Every problem Lithops would meet later (or never tell), one line each with its fix:
    keys the installed Lithops does not read, what Lithops' own config loading refuses
    (a missing backend section, a mandatory key), a backend timeout shorter than a task's,
    memory below the engine's need, no AWS credentials for an AWS backend."""
    version = lithops_version()
    problems = unknown_keys(config, version)
    backend = config["lithops"]["backend"]
    runtime = config.get("localhost", {}).get("runtime")
    if backend == "localhost" and not isinstance(runtime, str):
        problems.append(f"localhost.runtime {str(runtime)[:100]!r} is neither a Python (a path) nor an image")
        return problems
    wrong_names = unknown_backends(config, version)
    if wrong_names:  # Lithops would only fail to import them
        return [*problems, *wrong_names]
    try:
        filled = _filled(config)
    except ImportError as exc:  # a backend's client library (k8s: kubernetes), on this machine
        module = (exc.name or "its client library").split(".")[0]
        return [*problems, f"Lithops' {backend} backend needs {module} on this machine: pip install {module}"]
    except Exception as exc:  # Lithops raises bare Exceptions with a readable message
        why = " ".join(str(exc).split())[:300] or type(exc).__name__
        return [*problems, f"Lithops {version} refuses it: {why}{_hint(why, backend)}"]
    section = filled.get(backend) or {}
    timeout = section.get("runtime_timeout")
    if isinstance(timeout, int | float) and timeout < task_timeout_s:
        problems.append(
            f"{backend}.runtime_timeout is {timeout:g} s, shorter than a task's {task_timeout_s} s"
            f" (COMICOCR_TASK_TIMEOUT_S): set {backend}: {{runtime_timeout: {task_timeout_s}}}"
            " or lower the task timeout"
        )
    memory = section.get("runtime_memory")
    profile = PROFILES.get(method)
    if profile and isinstance(memory, int | float):
        need = memory_needed_mb(profile.peak_memory_gb)
        if memory < need:
            problems.append(
                f"{backend}.runtime_memory is {memory:g} MB; {method} needs at least {need} MB"
                f" (peak {profile.peak_memory_gb * 1024:.0f} MB + 25 %):"
                f" set {backend}: {{runtime_memory: {need}}}"
            )
    uses_aws = backend.startswith("aws_") or filled["lithops"].get("storage") == "aws_s3"
    if uses_aws and not _aws_credentials(filled):
        problems.append(
            "no AWS credentials found for Lithops' AWS backends: set AWS_PROFILE or"
            " AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run where an IAM role provides them"
        )
    return problems


def _filled(config: dict[str, Any]) -> dict[str, Any]:
    """The config as Lithops completes it (its defaults, its own refusals), on a copy."""
    if config["lithops"]["backend"] == "localhost":
        _private_temp_dir()  # before Lithops is first imported: it fixes its folder then
    from lithops.config import default_config

    filled: dict[str, Any] = default_config(config_data=copy.deepcopy(config))
    return filled


def _hint(why: str, backend: str) -> str:
    if "Localhost storage" in why:
        return " (set lithops: {storage: aws_s3} or the store of that cloud, or pass --storage)"
    if "mandatory" in why or "section" in why:
        # Lithops names the section it wants ('azure_storage' section is mandatory...)
        named = re.search(r"""['"]([a-z0-9_]+)['"] section|section ['"]([a-z0-9_]+)['"]""", why)
        section = next((g for g in named.groups() if g), backend) if named else backend
        example = f"; examples: runtimes/lithops.{section}.yaml" if section == backend else ""
        return f" (add it to the {section}: section{example})"
    return ""


def _aws_credentials(filled: dict[str, Any]) -> bool:
    """Whether Lithops' AWS clients will find credentials; ConfigError when the chain itself
    fails (a profile that does not exist, a credential_process that fails): its class only,
    since its text may quote what the process printed."""
    sections = ("aws", "aws_s3", filled["lithops"]["backend"])
    if any((filled.get(s) or {}).get("access_key_id") for s in sections):
        return True
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        return boto3.Session().get_credentials() is not None
    except BotoCoreError as exc:
        raise ConfigError(
            f"AWS credentials cannot be loaded ({type(exc).__name__}): check AWS_PROFILE and ~/.aws/config"
        ) from None


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
        from lithops.constants import JOBS_PREFIX
        from lithops.storage.utils import clean_bucket

        with self._lock:
            try:
                self._fe.clean(clean_cloudobjects=True, force=True, on_exit=True)
                # The function, uploaded once per executor, is not a job's: nothing above
                # deletes it (measured: one object left in an aws_s3 bucket per consumer run).
                storage = self._fe.internal_storage
                prefix = f"{JOBS_PREFIX}/{self._fe.executor_id}/"
                clean_bucket(storage.storage, storage.bucket, prefix, sleep=0)
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
