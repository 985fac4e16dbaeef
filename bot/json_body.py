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
