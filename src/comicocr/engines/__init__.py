"""OCR engines behind one contract (see base.py)."""

from comicocr.contract import Region
from comicocr.engines.base import (
    CATALOG,
    Catalog,
    Engine,
    EngineOptions,
    Recognition,
    available,
    best_installed,
    engine_class,
    load_engine,
    resolve,
)

__all__ = [
    "CATALOG",
    "Catalog",
    "Engine",
    "EngineOptions",
    "Recognition",
    "Region",
    "available",
    "best_installed",
    "engine_class",
    "load_engine",
    "resolve",
]
