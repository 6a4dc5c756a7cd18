"""Turns manifests and single pages into queue messages, ten per batch."""

from comicocr.producer.enqueue import EnqueueReport, enqueue_pages

__all__ = ["EnqueueReport", "enqueue_pages"]
