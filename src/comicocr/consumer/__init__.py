"""The consumer service: receive, batch, dispatch to Lithops, ack."""

from comicocr.consumer.supervisor import Consumer, Stats

__all__ = ["Consumer", "Stats"]
