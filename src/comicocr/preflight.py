"""Checks made before a page is enqueued or consumed: each problem is one ConfigError (exit 2)
naming the fix, so a typo or a missing package costs one line, not 300,000 dead letters."""

from __future__ import annotations

from typing import Any

from comicocr import storage
from comicocr.engines import resolve
from comicocr.lithops_adapter import load_config
from comicocr.settings import Settings


def check_engine(settings: Settings, method: str | None = None, *, on_this_machine: bool) -> None:
    """The method is known, reads the language and takes the options; ``on_this_machine``
    (the workers run here): its extra, program, language data, models and key are present."""
    name = method or settings.method
    cls, options = resolve(name, settings.engine_options, settings.lang)
    if on_this_machine:
        cls.check_ready(options, settings.lang)


def lithops_config(settings: Settings) -> dict[str, Any]:
    """The Lithops config this run would use (ConfigError when it cannot be read)."""
    return load_config(settings.lithops_config, settings.backend, settings.storage, settings.workers)


def before_consuming(settings: Settings) -> None:
    """Everything a consumer needs before it takes a message: a readable Lithops config, an
    engine that can run where the workers run, and an output it can write."""
    config = lithops_config(settings)
    check_engine(settings, on_this_machine=config["lithops"]["backend"] == "localhost")
    storage.probe_writable(settings.output)
