"""The replay connector: posts from files (JSON Lines, Customer Support on Twitter CSV,
Bluesky Jetstream JSON lines).

Reads bytes, never decoded text, so the cursor is an exact byte offset and a bad byte in
one line cannot spoil the next. Bad lines are dead-lettered with their line number; the
rest of the file goes on.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, ClassVar, Literal

import orjson

from earful.connectors.base import Batch, Connector, ConnectorError
from earful.connectors.registry import register
from earful.connectors.wire import (
    BadRecord,
    NotAPost,
    parse_jetstream,
    parse_post_json,
    parse_twcs_row,
    twcs_header,
)
from earful.pipeline.schema import PostIn, Rejected

Format = Literal["jsonl", "twcs", "jetstream"]
FORMATS: tuple[Format, ...] = ("jsonl", "twcs", "jetstream")
MAX_LINE_BYTES = 1 << 20  # no network sends a 1 MiB post; longer lines are broken input
KEEP_BYTES = 64 << 10  # how much of an over-long line is kept in the dead-letter table
MAX_CSV_LINES = 100  # a quoted CSV field spanning more lines is an unterminated quote
TWCS_ROW_START = re.compile(rb"^\d+,[^,\n]*,(?:True|False),")


def _fingerprint(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.sha256(f.read(4096)).hexdigest()[:16]


@register
class FileReplay(Connector):
    name: ClassVar[str] = "replay"
    network: ClassVar[str] = "*"

    def __init__(self, path: Path, fmt: Format, batch_size: int = 2000) -> None:
        if fmt not in FORMATS:
            raise ConnectorError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
        if not path.is_file():
            raise ConnectorError(f"{path}: no such file")
        self.path = path
        self.fmt = fmt
        self.batch_size = batch_size

    @property
    def source_name(self) -> str:
        return f"file:{self.fmt}:{self.path.resolve()}"

    def total(self) -> int:
        return self.path.stat().st_size

    # -------------------------------------------------------------- cursor

    def _start(self, cursor: str | None) -> tuple[int, int]:
        """(byte offset, line number) to resume from; a changed file starts over."""
        if not cursor:
            return 0, 0
        try:
            state = orjson.loads(cursor)
            offset, line, fp = int(state["offset"]), int(state["line"]), state["fp"]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return 0, 0
        if fp != _fingerprint(self.path) or offset > self.total():
            return 0, 0
        return offset, line

    def _cursor(self, offset: int, line: int, fp: str) -> str:
        return orjson.dumps({"offset": offset, "line": line, "fp": fp}).decode()

    # -------------------------------------------------------------- reading

    def read(self, cursor: str | None) -> Iterator[Batch]:
        offset, line_no = self._start(cursor)
        fp = _fingerprint(self.path)
        with self.path.open("rb") as f:
            header: list[str] | None = None
            if self.fmt == "twcs":
                f.seek(0)
                raw_header = f.readline(MAX_LINE_BYTES)
                try:
                    header = twcs_header(raw_header)
                except BadRecord as exc:
                    yield Batch(
                        posts=[],
                        rejected=[Rejected("line 1", str(exc), raw_header[:KEEP_BYTES])],
                        cursor=self._cursor(f.tell(), 1, fp),
                        progress=self.total(),
                    )
                    return
                if offset == 0:
                    offset, line_no = f.tell(), 1
            f.seek(offset)
            parse = self._parser(header)
            batch = Batch(posts=[])
            for start_line, raw, problem in self._records(f, line_no):
                line_no = start_line
                if problem:
                    batch.rejected.append(Rejected(f"line {start_line}", problem, raw))
                elif raw.strip():
                    try:
                        post = parse(raw)
                    except NotAPost:
                        batch.skipped += 1
                    except BadRecord as exc:
                        batch.rejected.append(Rejected(f"line {start_line}", str(exc), raw))
                    else:
                        batch.posts.append(post)
                size = len(batch.posts) + len(batch.rejected) + batch.skipped
                if size >= self.batch_size:
                    batch.cursor = self._cursor(f.tell(), self._line_after, fp)
                    batch.progress = f.tell()
                    yield batch
                    batch = Batch(posts=[])
            batch.cursor = self._cursor(f.tell(), self._line_after, fp)
            batch.progress = f.tell()
            yield batch

    def _parser(self, header: list[str] | None) -> Callable[[bytes], PostIn]:
        if self.fmt == "jsonl":
            return parse_post_json
        if self.fmt == "jetstream":
            return lambda raw: parse_jetstream(raw)[0]
        assert header is not None
        return lambda raw: parse_twcs_row(raw, header)

    def _records(self, f: BinaryIO, line_no: int) -> Iterator[tuple[int, bytes, str | None]]:
        """Yield (first line number, record bytes, problem or None).

        CSV records may span lines inside quotes; JSON lines never do.
        """
        multiline = self.fmt == "twcs"
        self._line_after = line_no
        while True:
            line = f.readline(MAX_LINE_BYTES + 1)
            if not line:
                return
            line_no += 1
            start = line_no
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                total = len(line)
                while chunk := f.readline(MAX_LINE_BYTES):
                    total += len(chunk)
                    if chunk.endswith(b"\n"):
                        break
                self._line_after = line_no
                yield (
                    start,
                    line[:KEEP_BYTES],
                    f"line longer than {MAX_LINE_BYTES} bytes ({total} bytes); "
                    f"first {KEEP_BYTES} bytes kept",
                )
                continue
            if multiline and line.count(b'"') % 2 == 1:
                # A quoted field goes on over the next lines. If the quote never closes,
                # only this line is bad: rewind so the rows after it are still read.
                after_first, first_line_no = f.tell(), line_no
                record = line
                while record.count(b'"') % 2 == 1 and line_no - start < MAX_CSV_LINES:
                    more = f.readline(MAX_LINE_BYTES + 1)
                    if not more or len(record) + len(more) > MAX_LINE_BYTES:
                        break
                    if TWCS_ROW_START.match(more):
                        break  # the next row begins: the quote was never closed
                    line_no += 1
                    record += more
                if record.count(b'"') % 2 == 1:
                    f.seek(after_first)
                    self._line_after = line_no = first_line_no
                    yield start, line.rstrip(b"\r\n"), "unterminated quoted field"
                    continue
                line = record
            self._line_after = line_no
            yield start, line.rstrip(b"\r\n"), None
