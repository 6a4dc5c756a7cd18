"""comicocr: a streaming OCR pipeline for comic and manga pages.

A page walks one way through the package:
manifest row -> message (producer/) -> queue (queues/) -> micro-batch (consumer/)
-> Lithops chunk (lithops_adapter.py, remote.py) -> engine (engines/) -> reading
order (layout.py) -> result file (results.py, storage.py) -> message deleted.
"""

__version__ = "0.1.0"
