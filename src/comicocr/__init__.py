"""comicocr: a streaming OCR pipeline for comic and manga pages.

A page walks one way through the package:
manifest row (manifest.py) -> message (producer/, messages.py) -> queue (queues/)
-> micro-batch and plan (consumer/) -> chunk, over Lithops (lithops_adapter.py, remote.py)
-> worker (worker.py): engine (engines/) -> reading order (layout.py) -> result file
(results.py, storage.py) -> outcome back (contract.py) -> message settled (consumer/acker.py).

Glossary: one name per concept, used everywhere.

- page: one image to OCR, named by its ``canonical_id`` (may hold ``/``, never ``..``).
- message: a queue message; its body names one page (or is an S3 event naming several).
- batch (micro-batch): the messages the consumer takes together, N of them or T seconds' worth.
- chunk: the pages of one Lithops call; they share a ``ChunkSpec`` (engine, output, limits).
  A ``Dispatch`` is a chunk together with the messages its pages came from.
- engine: what reads a page (tesseract, paddleocr, ...). *method* is the seed's word for
  it, kept only where users see it: ``--method``, the message body, ``ocr_method`` in results.
- engine spec: an engine's name, language, options and GPU flag (``EngineSpec``).
- outcome: what a worker says of one page: done, skipped, failed or throttled.
- action: what the consumer does with a message after its outcome: delete, retry, dead
  (to the dead-letter queue) or hand back (visible again at once, no attempt counted).
- attempt: one *failed* try of a page, counted by the pipeline (not SQS's receive count).
- paced: an engine whose requests the consumer's pacer books ahead (the VLMs).
- dead letter: a message in the dead-letter queue (DLQ), with why it is there;
  redrive sends dead letters back.
"""

__version__ = "0.1.0"
