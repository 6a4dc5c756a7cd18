"""Tolerant parsing of a vision-language model's answer into text regions.

Models wrap JSON in code fences, add prose before or after it, or stop mid-answer
when they hit their token limit. We take the first JSON value in the answer, repair
a truncated array by dropping its unfinished last item, and accept the shapes models
actually produce: ``{"regions": [...]}``, a bare list, items with ``bbox`` as
``[x, y, w, h]`` or Qwen's ``bbox_2d`` as ``[x1, y1, x2, y2]``.
"""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```(?:json)?\s*(.*?)(?:```|$)", re.DOTALL)


class Unparseable(ValueError):
    pass


def _first_json(text: str) -> Any:
    fenced = _FENCE.search(text)
    if fenced and fenced.group(1).strip():
        text = fenced.group(1)
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        raise Unparseable("the answer holds no JSON")
    text = text[min(starts) :]
    try:
        value, _ = json.JSONDecoder().raw_decode(text)
        return value
    except json.JSONDecodeError:
        return _repair(text)


def _repair(text: str) -> Any:
    """Close a truncated answer after its last complete region object."""
    for end in range(len(text), 0, -1):
        if text[end - 1] != "}":
            continue
        head = text[:end]
        for closing in ("]}", "]", "}", ""):
            try:
                return json.loads(head + closing)
            except json.JSONDecodeError:
                continue
    raise Unparseable("the answer's JSON is broken beyond repair")


def parse_regions(answer: str) -> list[dict[str, Any]]:
    """``answer`` -> ``[{"text": str, "bbox": [x, y, w, h] | None, "confidence": float | None}]``."""
    if not answer or not answer.strip():
        raise Unparseable("the model returned an empty answer")
    value = _first_json(answer)
    items = value.get("regions", value.get("text_regions")) if isinstance(value, dict) else value
    if not isinstance(items, list):
        raise Unparseable("the answer's JSON has no list of regions")
    regions = []
    for raw in items:
        item = {"text": raw} if isinstance(raw, str) else raw
        if not isinstance(item, dict) or not str(item.get("text", "")).strip():
            continue
        regions.append({"text": str(item["text"]).strip(), "bbox": _bbox(item), "confidence": _conf(item)})
    return regions


def _bbox(item: dict[str, Any]) -> list[float] | None:
    try:
        if isinstance(item.get("bbox_2d"), list) and len(item["bbox_2d"]) == 4:
            x1, y1, x2, y2 = (float(v) for v in item["bbox_2d"])
            return [x1, y1, x2 - x1, y2 - y1]
        if isinstance(item.get("bbox"), list) and len(item["bbox"]) == 4:
            return [float(v) for v in item["bbox"]]
    except (TypeError, ValueError):
        return None
    return None


def _conf(item: dict[str, Any]) -> float | None:
    try:
        value = float(item["confidence"])
    except (KeyError, TypeError, ValueError):
        return None
    return min(1.0, max(0.0, value))
