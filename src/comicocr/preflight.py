"""Checks made before a page is enqueued or consumed: each problem is one ConfigError (exit 2)
naming the fix, so a typo or a missing package costs one line, not 300,000 dead letters."""

from __future__ import annotations

from typing import Any

from comicocr import storage
from comicocr.consumer.planner import chunk_spec
from comicocr.engines import engine_class, resolve
from comicocr.lithops_adapter import load_config
from comicocr.messages import PageMessage
from comicocr.queues import open_queue
from comicocr.settings import Settings


def check_engine(settings: Settings, method: str | None = None, *, on_this_machine: bool) -> None:
    """The method is known, reads the language and takes the options; ``on_this_machine``
    (the workers run here): its extra, program, language data, models and key are present."""
    name = method or settings.method
    cls = engine_class(name)
    # The options a page of this method gets, built as the planner builds them (VLM settings too).
    probe = PageMessage(canonical_id="preflight", image_path="-", method=name)
    spec = chunk_spec(probe, settings, paced=cls.paced).engine
    cls, options = resolve(name, spec.options, spec.lang)
    if on_this_machine:
        cls.check_ready(options, spec.lang)


def lithops_config(settings: Settings) -> dict[str, Any]:
    """The Lithops config this run would use (ConfigError when it cannot be read)."""
    return load_config(settings.lithops_config, settings.backend, settings.storage, settings.workers)


def before_consuming(settings: Settings) -> None:
    """Everything a consumer needs before it takes a message: a queue address of a known form,
    a readable Lithops config, an engine that can run where the workers run, and an output it
    can write."""
    open_queue(settings.queue_address, settings.dlq, settings.visibility_timeout_s)  # form only: no I/O
    config = lithops_config(settings)
    # On localhost the workers run here, with this machine's programs and credentials; a cloud
    # runtime has its own (its image is checked when it is built), so only the form is checked.
    here = config["lithops"]["backend"] == "localhost"
    check_engine(settings, on_this_machine=here)
    if here:
        storage.probe_writable(settings.output)
