"""Read and clean text before it is stored: the clone will quote it, so hide nothing in it.

Invisible Unicode (zero-width and bidirectional controls, tag characters, other format
characters) and hidden HTML (comments, scripts, styles, templates, elements marked hidden)
are removed; visible HTML keeps its text and loses its tags.
"""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

from knowledge.errors import (
    BinarySourceError,
    EmptySourceError,
    EncodingSourceError,
    OversizeSourceError,
)

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
_KEEP_CONTROLS = {"\n", "\t"}
# The ASCII characters `_visible` drops: the C0 controls but those kept, and DEL.
_ASCII_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
_HTML_HINT = re.compile(r"<(?:!--|[a-zA-Z/!])")
_HIDDEN_TAGS = {"script", "style", "template", "noscript", "head", "title", "iframe", "object"}
_VOID_TAGS = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}
_HIDDEN_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0", re.IGNORECASE
)


def read_text(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """The UTF-8 text of a file, refusing binary, oversize and badly encoded files."""
    size = path.stat().st_size
    if size > max_bytes:
        raise OversizeSourceError(str(path), size, max_bytes)
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise BinarySourceError(str(path))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise EncodingSourceError(str(path), line, f"byte 0x{data[e.start]:02x}") from None


def clean(text: str, *, source: str) -> str:
    """`text` without hidden HTML or invisible characters, whitespace tidied.

    Raises:
        EmptySourceError: nothing visible is left.
    """
    if _HTML_HINT.search(text):
        text = _visible_html(text)
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    if text.isascii():  # the common case, without a Python call per character
        text = _ASCII_CONTROLS.sub("", text)
    else:
        text = "".join(ch for ch in text if _visible(ch))
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    if not text:
        raise EmptySourceError(source)
    return text


def _visible(ch: str) -> bool:
    category = unicodedata.category(ch)
    if category == "Cf":  # zero-width, bidi controls, tag characters, BOM, soft hyphen
        return False
    return category != "Cc" or ch in _KEEP_CONTROLS


def _visible_html(text: str) -> str:
    parser = _VisibleText()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts)


class _VisibleText(HTMLParser):
    """Collects the text a reader would see; comments are dropped by not handling them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._stack: list[bool] = []  # for each open element: is it hidden?

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID_TAGS:
            return
        values = dict(attrs)
        hidden = (
            tag in _HIDDEN_TAGS
            or "hidden" in values
            or values.get("aria-hidden") == "true"
            or bool(_HIDDEN_STYLE.search(values.get("style") or ""))
        )
        self._stack.append(hidden)

    def handle_endtag(self, tag: str) -> None:
        if tag not in _VOID_TAGS and self._stack:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if not any(self._stack):
            self.parts.append(data)
