"""The one function Lithops ships to workers: a chunk in plain data, one outcome per page back.

Plain data in, plain data out (``contract.py`` says what), so any Lithops backend can run
it. The consumer process imports this module to hand the function to Lithops, so it stays
light: the engines, images and storage load in the worker, when the function runs.
"""

from __future__ import annotations

from comicocr.contract import Chunk, Wire, outcome_to_wire


def process_chunk(chunk: Wire) -> list[Wire]:
    """OCR every page of the chunk and write each result; never raises for a page."""
    from comicocr.worker import run_chunk  # here, not above: see the module docstring

    return [outcome_to_wire(o) for o in run_chunk(Chunk.from_wire(chunk))]
