"""OCR engines behind one contract (see base.py)."""

from comicocr.engines.base import (
    Engine,
    EngineOptions,
    Region,
    available,
    engine_class,
    is_paced,
    load_engine,
)

__all__ = ["Engine", "EngineOptions", "Region", "available", "engine_class", "is_paced", "load_engine"]
