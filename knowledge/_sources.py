"""Sources of a creator's content, and how files and records become them.

A source is one piece of content: a video or audio transcript (with timestamps), an
article, a social post, a past interaction, or plain text. Files: `.txt`, `.md`,
`.srt`, `.vtt`, and `.json` (transcript segments, or a list of post/interaction records).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from knowledge._clean import DEFAULT_MAX_BYTES, clean, read_text
from knowledge.errors import FormatSourceError, SourceError

SourceKind = Literal["video", "audio", "article", "post", "interaction", "text"]
SUFFIXES = {".txt", ".md", ".markdown", ".srt", ".vtt", ".json"}
_FOLDER_KINDS: dict[str, SourceKind] = {
    "video": "video",
    "videos": "video",
    "audio": "audio",
    "podcast": "audio",
    "podcasts": "audio",
    "article": "article",
    "articles": "article",
    "blog": "article",
    "posts": "post",
    "interactions": "interaction",
}


class Segment(BaseModel):
    """A stretch of a source's text, with its time span in a recording when it has one."""

    model_config = ConfigDict(frozen=True)

    text: str
    start: float | None = None
    end: float | None = None


class Source(BaseModel):
    """One piece of a creator's content, cleaned and ready to split.

    Attributes:
        key: identifies the source across ingests (a resolved file path, or
            `record:<kind>:<id>`); ingesting the same key again replaces it.
    """

    model_config = ConfigDict(frozen=True)

    key: str
    kind: SourceKind
    title: str
    segments: list[Segment]
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join(s.text for s in self.segments)

    @property
    def content_hash(self) -> str:
        """Changes when anything that is stored changes."""
        payload = json.dumps(
            [self.kind, self.title, [s.model_dump() for s in self.segments], self.details],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()


def load_file(
    path: Path, *, kind: SourceKind | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> list[Source]:
    """The sources in one file (a JSON list of records holds several)."""
    path = path.resolve()
    if path.suffix.lower() not in SUFFIXES:
        raise SourceError(str(path), f"unsupported file type; use one of {sorted(SUFFIXES)}")
    raw = read_text(path, max_bytes=max_bytes)
    suffix = path.suffix.lower()
    kind = kind or _FOLDER_KINDS.get(path.parent.name.lower())
    if suffix == ".json":
        return _json_sources(path, raw, kind)
    if suffix in (".srt", ".vtt"):
        segments = _subtitles(path, raw, suffix)
        return [Source(key=str(path), kind=kind or "video", title=path.stem, segments=segments)]
    text = clean(raw, source=str(path))
    default: SourceKind = "article" if suffix in (".md", ".markdown") else "text"
    return [
        Source(
            key=str(path),
            kind=kind or default,
            title=_title(text, path),
            segments=[Segment(text=text)],
        )
    ]


def walk(directory: Path) -> Iterator[Path]:
    """The ingestible files under `directory`, in a stable order (hidden ones skipped)."""
    for path in sorted(directory.rglob("*")):
        hidden = any(part.startswith(".") for part in path.relative_to(directory).parts)
        if path.is_file() and not hidden and path.suffix.lower() in SUFFIXES:
            yield path


def from_record(kind: SourceKind, record: Mapping[str, Any], *, origin: str = "record") -> Source:
    """A post (`{id, text, ...}`) or interaction (`{id, message, reply, ...}`) as a source."""
    record_id = record.get("id")
    if not isinstance(record_id, str) or not record_id:
        raise FormatSourceError(origin, "every record needs a string 'id'")
    key = f"record:{kind}:{record_id}"
    if kind == "interaction":
        message, reply = _field(record, "message", key), _field(record, "reply", key)
        text = f"Fan: {clean(message, source=key)}\nCreator: {clean(reply, source=key)}"
    else:
        text = clean(_field(record, "text", key), source=key)
    details = _plain(
        key, {k: v for k, v in record.items() if k not in {"id", "text", "message", "reply"}}
    )
    return Source(
        key=key, kind=kind, title=_title(text, None), segments=[Segment(text=text)], details=details
    )


def _json_sources(path: Path, raw: str, kind: SourceKind | None) -> list[Source]:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise FormatSourceError(str(path), f"line {e.lineno}: invalid JSON ({e.msg})") from None
    if isinstance(data, dict) and "segments" in data:
        segments = _json_segments(path, data["segments"])
        title = str(data.get("title") or path.stem)
        details = _plain(
            str(path), {k: v for k, v in data.items() if k not in {"segments", "title"}}
        )
        return [
            Source(
                key=str(path), kind=kind or "audio", title=title, segments=segments, details=details
            )
        ]
    if isinstance(data, list):
        record_kind: SourceKind = kind or ("interaction" if _has(data, "reply") else "post")
        return [from_record(record_kind, r, origin=str(path)) for r in _records(path, data)]
    raise FormatSourceError(
        str(path), "expected {'segments': [{start, end, text}, ...]} or a list of records"
    )


def _json_segments(path: Path, items: Any) -> list[Segment]:
    if not isinstance(items, list) or not items:
        raise FormatSourceError(str(path), "'segments' must be a non-empty list")
    segments = []
    for i, item in enumerate(items):
        try:
            segment = Segment(text=item["text"], start=float(item["start"]), end=float(item["end"]))
        except (KeyError, TypeError, ValueError):
            raise FormatSourceError(str(path), f"segment {i} needs text, start and end") from None
        text = _clean_or_none(segment.text, str(path))
        if text:
            segments.append(segment.model_copy(update={"text": text}))
    return _checked(path, segments)


def _subtitles(path: Path, raw: str, suffix: str) -> list[Segment]:
    import srt
    import webvtt

    try:
        if suffix == ".srt":
            cues = [
                (s.content, s.start.total_seconds(), s.end.total_seconds()) for s in srt.parse(raw)
            ]
        else:
            cues = [
                (c.text, c.start_time.in_milliseconds() / 1000, c.end_time.in_milliseconds() / 1000)
                for c in webvtt.from_buffer(io.StringIO(raw)).captions
            ]
    except Exception as e:  # each library raises its own error type for a malformed file
        raise FormatSourceError(str(path), f"not a valid {suffix} file ({e})") from None
    segments = [
        Segment(text=text, start=start, end=end)
        for body, start, end in cues
        if (text := _clean_or_none(body, str(path)))
    ]
    return _checked(path, segments)


def _plain(source: str, details: dict[str, Any]) -> dict[str, Any]:
    """Fields kept with a source must be plain JSON (no NaN or Infinity)."""
    try:
        json.dumps(details, allow_nan=False)
    except ValueError as e:
        raise FormatSourceError(
            source, f"fields must be plain JSON numbers and text ({e})"
        ) from None
    return details


def _checked(path: Path, segments: list[Segment]) -> list[Segment]:
    if not segments:
        raise FormatSourceError(str(path), "no text in any segment")
    return segments


def _clean_or_none(text: str, source: str) -> str | None:
    try:
        return clean(text, source=source)
    except SourceError:
        return None


def _records(path: Path, data: list[Any]) -> list[Mapping[str, Any]]:
    if not all(isinstance(r, dict) for r in data):
        raise FormatSourceError(str(path), "a record list must hold JSON objects only")
    return data


def _has(records: list[Any], key: str) -> bool:
    return bool(records) and all(isinstance(r, dict) and key in r for r in records)


def _field(record: Mapping[str, Any], name: str, key: str) -> str:
    value = record.get(name)
    if not isinstance(value, str):
        raise FormatSourceError(key, f"needs a string {name!r}")
    return value


def _title(text: str, path: Path | None) -> str:
    first = text.lstrip("# ").split("\n", 1)[0].strip()
    return first[:80] if first else (path.stem if path else "untitled")
