"""A request body's JSON, or a reason a person can read for why there is none."""
from __future__ import annotations

import json
from typing import Any


def decode_json(body: bytes) -> tuple[Any, str | None]:
    """(data, None), or (None, why the body is not JSON we can read)."""
    try:
        return json.loads(body.decode("utf-8")), None
    except UnicodeDecodeError:
        return None, "the body must be JSON in UTF-8"
    except ValueError as error:
        return None, f"the body is not valid JSON: {error}"
    except RecursionError:
        return None, "the body is nested too deeply"


def has_lone_surrogate(data: Any) -> bool:
    """Whether a key or string in decoded JSON holds a lone surrogate: JSON can escape one
    ("\\ud800"), but it is no character, and UTF-8 (the database, a reply) cannot carry it."""
    pending = [data]
    while pending:  # a loop, not recursion: decoded JSON may nest as deep as json.loads allows
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False
