"""Which Lithops config a run uses, and what is wrong with it — found before a page is enqueued.

Pure logic: nothing here imports Lithops (importing it fixes its temp folder, which
``lithops_adapter`` must choose first). What the installed Lithops *reads* is learnt from its
own source: every key a section may hold appears there as a string literal, so a misspelt key
(``runtime_memroy``) is one that appears nowhere. That follows whatever Lithops is installed,
with no table of ours to fall behind it.

Resolution, first found wins (Lithops' own order, then ours):
``--lithops-config`` / ``COMICOCR_LITHOPS_CONFIG``, ``LITHOPS_CONFIG_FILE``, ``./.lithops_config``,
``~/.lithops/config``, ``/etc/lithops/config``, ``./lithops.yaml``, the packaged default.
A file that names no backend means what it means to Lithops (``lithops.mode``'s backend, else
AWS Lambda); ``LITHOPS_CONFIG`` (a JSON config in the environment, how Lithops hands its
workers their config) is not read.
"""

from __future__ import annotations

import ast
import copy
import difflib
import errno
import functools
import importlib.util
import math
import os
import re
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from comicocr.errors import ConfigError

PACKAGED = "the packaged default"
# An interpreter, not an image: what Lithops' localhost backend runs on this machine
# (lithops/localhost/config.py get_environment: a path, or a name like python3.11).
_INTERPRETER = re.compile(r"^python[^:/\\]*$", re.IGNORECASE)


@dataclass(frozen=True)
class Source:
    """Where a config came from: ``path`` None is the packaged default."""

    path: Path | None
    found_by: str

    def __str__(self) -> str:
        return str(self.path) if self.path else PACKAGED


def find_config(explicit: Path | None = None) -> Source:
    """The config file a run uses, in Lithops' order of resolution (module docstring)."""
    if explicit is not None:
        return Source(explicit.expanduser(), "--lithops-config")
    env = os.environ.get("LITHOPS_CONFIG_FILE")
    if env:
        return Source(Path(env).expanduser(), "LITHOPS_CONFIG_FILE")
    for path, why in (
        (Path(".lithops_config"), "./.lithops_config"),
        (Path("~/.lithops/config").expanduser(), "~/.lithops/config"),
        (Path("/etc/lithops/config"), "/etc/lithops/config"),
        (Path("lithops.yaml"), "./lithops.yaml"),
    ):
        if path.is_file():
            return Source(path, why)
    return Source(None, PACKAGED)


MAX_CONFIG_BYTES = 1 << 20  # a Lithops config is a few hundred bytes; a larger file is a mistake


class _NoAliases(yaml.SafeLoader):
    """YAML without anchors' aliases (``*name``): a config has no need of them, and ten
    nested ones expand into gigabytes (a "billion laughs" file) when Lithops copies it."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None,
                None,
                "aliases (*name) are not allowed here",
                self.peek_event().start_mark,  # type: ignore[no-untyped-call]
            )
        return super().compose_node(parent, index)


def _config_text(path: Path) -> str:
    """A regular file's text: a FIFO would block, a device or a huge file never ends."""
    if not path.is_file():
        raise OSError(errno.ENOENT if not path.exists() else errno.EINVAL, "not a regular file")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise OSError(errno.EFBIG, f"larger than {MAX_CONFIG_BYTES} bytes")
    return path.read_text(encoding="utf-8")


def read_config(source: Source) -> dict[str, Any]:
    """The sections of ``source`` as a dict (ConfigError, one line, when it cannot be read)."""
    where = f"Lithops config {source}" + (f" (from {source.found_by})" if source.path else "")
    try:
        text = (
            _config_text(source.path)
            if source.path
            else resources.files("comicocr").joinpath("default_lithops.yaml").read_text()
        )
        config = yaml.load(text, Loader=_NoAliases) or {}  # noqa: S506 - a SafeLoader, aliases refused
    except OSError as exc:
        raise ConfigError(f"cannot read {where}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where} is not a text file") from None
    except yaml.YAMLError as exc:  # one line: what YAML found wrong, and where
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"{where} is not valid YAML: {getattr(exc, 'problem', exc)}{at}") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{where} is not a mapping of sections (lithops:, localhost:, ...)")
    config = copy.deepcopy(config)
    if config.get("lithops") is None:
        config["lithops"] = {}
    for name, value in config.items():
        if not isinstance(name, str):
            raise ConfigError(f"{where}: section name {name!r} is not a word")
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: section {name!r} is not a mapping of keys")
    for key in ("backend", "storage"):
        value = config["lithops"].get(key)
        if value is not None and not (isinstance(value, str) and value.isidentifier()):
            raise ConfigError(f"{where}: lithops.{key} {value!r} is not a backend name")
    return config


# Lithops 3.8's defaults for a config that names no backend (lithops/constants.py, utils.py;
# a unit test compares them with the installed Lithops). The packaged default names localhost.
MODE_DEFAULT = "serverless"
MODE_BACKENDS = {"localhost": "localhost", "serverless": "aws_lambda", "standalone": "aws_ec2"}
STORAGE_DEFAULT = "aws_s3"


def apply_flags(
    config: dict[str, Any], backend: str | None, storage: str | None, workers: int | None
) -> dict[str, Any]:
    """``--backend``, ``--storage`` and ``--workers`` over the file, and the localhost defaults
    measured necessary (DESIGN.md): ``version: 1`` and the running Python as ``runtime``."""
    section = config["lithops"]
    for flag, value in (("--backend", backend), ("--storage", storage)):
        if value is not None and not value.isidentifier():
            raise ConfigError(f"{flag} {value[:100]!r} is not a backend name (aws_lambda, k8s, aws_s3, ...)")
    if backend:
        section["backend"] = backend
    if storage:
        section["storage"] = storage
    if not section.get("backend"):  # as Lithops resolves it (config._resolve_mode_and_backend)
        mode = section.get("mode") or MODE_DEFAULT
        if mode not in MODE_BACKENDS:
            raise ConfigError(f"lithops.mode {str(mode)[:50]!r} is not one of {', '.join(MODE_BACKENDS)}")
        mode_section = config.get(mode)
        named = mode_section.get("backend") if isinstance(mode_section, dict) else None
        section["backend"] = named if isinstance(named, str) else MODE_BACKENDS[mode]
    if not section.get("storage"):  # localhost's config module defaults it to localhost, else Lithops to S3
        section["storage"] = "localhost" if section["backend"] == "localhost" else STORAGE_DEFAULT
    name = section["backend"]
    if name == "localhost":
        local = config.setdefault("localhost", {})
        local.setdefault("version", 1)
        local.setdefault("runtime", sys.executable)
        if workers:
            local["worker_processes"] = workers  # the localhost backend's only limit
    elif workers and name in compute_backends():
        # What Lithops 3.8's invoker reads for serverless and standalone backends
        # (runtime_info()['max_workers']); lithops.max_workers is read by nothing.
        config.setdefault(name, {})["max_workers"] = workers
    return config


@functools.cache
def _backends(*families: str) -> frozenset[str]:
    """The backends the installed Lithops has in ``families`` (its folders)."""
    root = _package_dir()
    if root is None:
        return frozenset()
    return frozenset(
        p.name for family in families for p in (root / family).glob("*/") if (p / "config.py").exists()
    )


def compute_backends() -> frozenset[str]:
    """The compute backends the installed Lithops has, and localhost."""
    return _backends("serverless/backends", "standalone/backends") | {"localhost"}


def storage_backends() -> frozenset[str]:
    return _backends("storage/backends")


def unknown_backends(config: dict[str, Any], version: str) -> list[str]:
    """A compute or storage backend the installed Lithops does not have, named with the closest."""
    if _package_dir() is None:  # nothing to tell them by
        return []
    problems = []
    for key, known in (("backend", compute_backends()), ("storage", storage_backends())):
        name = str(config["lithops"].get(key))
        if name not in known:
            problems.append(
                f"lithops.{key} {name!r} is not a {'compute' if key == 'backend' else 'storage'} backend of"
                f" Lithops {version}{_did_you_mean(name, known)}; it has: {', '.join(sorted(known))}"
            )
    return problems


def workers_run_here(config: dict[str, Any]) -> bool:
    """Whether Lithops' workers see this machine's files: localhost with an interpreter,
    not a container image."""
    if config["lithops"].get("backend") != "localhost":
        return False
    runtime = config.get("localhost", {}).get("runtime", "python")
    if not isinstance(runtime, str):
        return False
    return runtime.startswith("/") or ("/" not in runtime and bool(_INTERPRETER.match(runtime)))


# ---- what the installed Lithops reads -------------------------------------------------------


def _package_dir() -> Path | None:
    spec = importlib.util.find_spec("lithops")  # finds it without running its __init__
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


_QUOTED = re.compile(r"""['"]([a-z][a-z0-9_]*)['"]""")


@functools.cache
def _literals(folder: Path, recursive: bool) -> frozenset[str]:
    """Identifier-like quoted strings in the Python files of ``folder`` (a regex, not a
    parse: 10x faster, and a word in a comment only makes the check more lenient)."""
    found: set[str] = set()
    files = folder.rglob("*.py") if recursive else folder.glob("*.py")
    for file in files:
        if "tests" in file.relative_to(folder).parts:
            continue
        try:
            found.update(_QUOTED.findall(file.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError):
            continue
    return frozenset(found)


_FAMILIES = ("serverless/backends", "standalone/backends", "storage/backends", "monitoring/backends")


@functools.cache
def _sections(root: Path) -> dict[str, frozenset[str]]:
    """Each section name Lithops reads -> the keys it may hold."""
    common = _literals(root, False).union(
        *(_literals(root / sub, True) for sub in ("job", "worker", "util", "libs")),
        *(_literals(root / fam.split("/")[0], False) for fam in _FAMILIES),
    )
    backend_dirs: dict[str, list[Path]] = {}
    for family in _FAMILIES:
        for folder in sorted((root / family).glob("*/")):
            if (folder / "__init__.py").exists() or (folder / "config.py").exists():
                backend_dirs.setdefault(folder.name, []).append(folder)
    sections = {
        name: common.union(*(_literals(f, True) for f in folders)) for name, folders in backend_dirs.items()
    }
    sections["localhost"] = common | _literals(root / "localhost", True)
    sections["standalone"] = common | _literals(root / "standalone", True)
    sections["lithops"] = _lithops_section_keys(root)
    # Sections several backends share (aws:, ibm:, ...): what the config module of a backend
    # subscripts (config_data['aws']), holding the keys of every backend that reads it.
    for folders in backend_dirs.values():
        for folder in folders:
            for shared in _subscripted_sections(folder / "config.py"):
                if shared not in backend_dirs and shared not in ("lithops", "localhost", "standalone"):
                    sections[shared] = sections.get(shared, common) | _literals(folder, True)
    return sections


# How Lithops reads its own section: config['lithops']['key'], config['lithops'].get('key'),
# lithops_cfg['key'] (its name for that section), 'key' in config['lithops'].
_LITHOPS_SECTION_READS = re.compile(
    r"""\[['"]lithops['"]\](?:\[|\.(?:get|setdefault|pop)\()['"]([a-z_]+)['"]"""
    r"""|lithops_c(?:fg|onfig)(?:\[|\.(?:get|setdefault|pop)\()['"]([a-z_]+)['"]"""
    r"""|['"]([a-z_]+)['"] (?:not )?in [a-z_.]+\[['"]lithops['"]\]"""
)


def _lithops_section_keys(root: Path) -> frozenset[str]:
    """The keys of the ``lithops:`` section: read all over the package, so the literals are
    too many to tell a typo from a key; what is read from that section is few and regular."""
    keys: set[str] = set()
    for file in root.rglob("*.py"):
        if "tests" in file.relative_to(root).parts:
            continue
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for match in _LITHOPS_SECTION_READS.findall(text):
            keys.update(k for k in match if k)
        if file.name == "constants.py":  # LITHOPS_DEFAULT_CONFIG_KEYS = {...}: the defaults it fills
            block = text.partition("LITHOPS_DEFAULT_CONFIG_KEYS")[2].partition("}")[0]
            keys.update(_QUOTED.findall(block))
    return frozenset(keys)


def _subscripted_sections(config_py: Path) -> set[str]:
    try:
        tree = ast.parse(config_py.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return set()
    return {
        n.slice.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Subscript)
        and isinstance(n.value, ast.Name)
        and n.value.id == "config_data"
        and isinstance(n.slice, ast.Constant)
        and isinstance(n.slice.value, str)
    }


def _did_you_mean(name: object, choices: set[str] | frozenset[str]) -> str:
    close = difflib.get_close_matches(str(name), sorted(choices), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_keys(config: dict[str, Any], version: str) -> list[str]:
    """One line per section or key (first level) the installed Lithops never reads."""
    root = _package_dir()
    if root is None:
        return []
    sections = _sections(root)
    problems = []
    for name, section in config.items():
        if name not in sections:
            fix = _did_you_mean(name, set(sections))
            problems.append(f"section {str(name)[:100]!r} is not one Lithops {version} reads{fix}")
            continue
        for key in section:
            if str(key) not in sections[name]:
                fix = _did_you_mean(str(key), sections[name])
                if (name, key) == ("lithops", "max_workers"):  # a common trap: it looks right
                    fix = " (use --workers, or max_workers in the backend's own section)"
                problems.append(f"{name}.{_shown(key)} is not a key Lithops {version} reads{fix}: ignored")
    if len(problems) > MAX_PROBLEMS:  # a pasted file of the wrong kind: the first few say enough
        problems[MAX_PROBLEMS:] = [f"... and {len(problems) - MAX_PROBLEMS} more keys Lithops does not read"]
    return problems


MAX_PROBLEMS = 20


def _shown(key: object) -> str:
    """A key as printed: a plain word as it is, anything else quoted (a newline in a key must
    not start a line of its own)."""
    text = str(key)
    return text if _QUOTED.fullmatch(f"'{text}'") else repr(text)[:100]


def memory_needed_mb(peak_memory_gb: float) -> int:
    """A worker's memory for an engine that peaks at ``peak_memory_gb``: that plus 25 %
    (the interpreter, Lithops' own worker, a larger page), in 64 MB steps as Lambda counts."""
    return math.ceil(peak_memory_gb * 1024 * 1.25 / 64) * 64
