"""Text as the host takes it: every string that crosses into the host is UTF-8, which a
Python str with surrogate code points cannot be."""

from __future__ import annotations

import re

# Not a codec (utf-16 with surrogatepass would do it): a component holds only the modules
# imported while it was built, and the codec modules are looked up at call time.
_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _join(pair: "re.Match[str]") -> str:
    high, low = pair.group()
    return chr(0x10000 + ((ord(high) - 0xD800) << 10) + (ord(low) - 0xDC00))


def well_formed(text: str) -> str:
    """`text` with every surrogate code point replaced by U+FFFD (a high one followed by a
    low one becomes the character the pair encodes). A str gets them from bytes decoded with
    `errors="surrogateescape"` (file names, environment, `os.fsdecode`) or from UTF-16 cut in
    half; UTF-8 cannot hold them, and the host would refuse the call."""
    if text.isascii():  # O(1) in CPython
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", _PAIR.sub(_join, text))


def shown(text: str, limit: int = 60) -> str:
    """The start of `text` for a message, well-formed, with `...` when cut."""
    return well_formed(text[:limit]) + ("..." if len(text) > limit else "")
