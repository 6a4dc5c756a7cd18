"""Checks made before a page is enqueued or consumed: each problem is one ConfigError (exit 2)
naming the fix, so a typo or a missing package costs one line, not 300,000 dead letters."""

from __future__ import annotations

from typing import Any

from comicocr import storage
from comicocr.consumer.planner import chunk_spec
from comicocr.engines import engine_class, resolve
from comicocr.errors import ConfigError
from comicocr.lithops_adapter import check_config, load_config
from comicocr.lithops_config import find_config, workers_run_here
from comicocr.locations import scheme_of
from comicocr.messages import PageMessage
from comicocr.queues import open_queue
from comicocr.ratelimit import check_store
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


def check_lithops(settings: Settings, config: dict[str, Any]) -> None:
    """Everything wrong with the Lithops config, for this engine and output: one ConfigError
    holding one line per problem, each naming the config file and the fix."""
    problems = check_config(config, settings.method, settings.task_timeout_s)
    backend = config["lithops"]["backend"]
    if not workers_run_here(config) and not scheme_of(settings.output):
        where = f"on {backend}"
        if backend == "localhost":
            where = f"in the container image {str(config['localhost'].get('runtime'))[:100]!r}"
        problems.append(
            f"output {settings.output[:200]!r} is a folder on this machine, but the workers run {where}"
            " and cannot write here: use s3://bucket/prefix (or another object store)"
        )
    if problems:
        source = find_config(settings.lithops_config)
        where = f"Lithops config {source}" + (f" (from {source.found_by})" if source.path else "")
        raise ConfigError("\n".join(f"{where}: {p}" for p in problems))


def before_consuming(settings: Settings) -> Settings:
    """Everything a consumer needs before it takes a message: a queue address of a known form,
    a Lithops config that holds together, an engine that can run where the workers run, and
    an output it can write. Returns the settings with ``local_images`` off when the workers
    run elsewhere (a page naming a local file is then refused before it is sent)."""
    open_queue(settings.queue_address, settings.dlq, settings.visibility_timeout_s)  # form only: no I/O
    check_store(settings)  # a shared VLM budget's store (COMICOCR_VLM_RATE_STORE) answers
    config = lithops_config(settings)
    check_lithops(settings, config)
    # On localhost the workers run here, with this machine's programs and credentials; a cloud
    # runtime has its own (its image is checked when it is built), so only the form is checked.
    here = workers_run_here(config)
    check_engine(settings, on_this_machine=here)
    storage.check_store(settings.output)  # its SDK is here (run lists results from here)
    if here:
        storage.probe_writable(settings.output)
        return settings
    return settings.model_copy(update={"local_images": False})
