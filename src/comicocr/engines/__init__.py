"""OCR engines behind one contract (see base.py)."""

from comicocr.engines.base import (
    Engine,
    EngineOptions,
    Recognition,
    available,
    engine_class,
    load_engine,
    paced_tokens,
)

__all__ = [
    "Engine",
    "EngineOptions",
    "Recognition",
    "available",
    "engine_class",
    "load_engine",
    "paced_tokens",
]
