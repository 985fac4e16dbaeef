"""Text that can always be encoded: lone surrogates (a JSON "\\ud800", undecodable command-line
bytes) are no characters, and the tokenizer, UTF-8 output and databases all fail on them."""
from __future__ import annotations

import re

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD."""
    return _LONE_SURROGATE.sub("\ufffd", text)
