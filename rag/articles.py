"""Stage 1: load articles from the corpus folder.

Every .txt and .md file below the folder is one article; every line of a .jsonl file is one
article (`title`, `date`, `text` or `body`, optional `url`). A leading dateline
` date YYYY-MM-DD` becomes the article's date and is cut from its text. Files that cannot be
read are skipped with a warning naming them: one bad file never stops ingestion.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

ARTICLE_SUFFIXES = {".txt", ".md"}
CORPUS_SUFFIXES = ARTICLE_SUFFIXES | {".jsonl"}
# A .txt/.md file larger than this is skipped: it is no single article, and embedding it would
# take many minutes. Large corpora belong in .jsonl files, which are read line by line.
MAX_ARTICLE_BYTES = 10 * 1024 * 1024

_DATELINE = re.compile(r"\A\s*date\s+(\d{4}-\d{2}-\d{2})\b[ \t]*")
_TITLE_CHARS = 90


@dataclass(frozen=True)
class Article:
    doc_id: str  # path relative to the corpus folder; "file.jsonl:LINE" for JSONL articles
    title: str
    date: dt.date | None
    text: str
    source: str  # the corpus file it came from (relative), whose hash the index tracks
    url: str | None = None


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def corpus_files(corpus_dir: Path) -> list[Path]:
    """Article files below `corpus_dir`, sorted, hidden files and folders left out."""
    if not corpus_dir.is_dir():
        raise FileNotFoundError(f"Corpus folder not found: {corpus_dir}")
    return sorted(
        p
        for p in corpus_dir.rglob("*")
        if p.suffix.lower() in CORPUS_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(corpus_dir).parts)
    )


def parse_date(value: object) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def split_dateline(raw: str) -> tuple[dt.date | None, str]:
    """(date, text) from raw file text; text keeps everything after the dateline."""
    match = _DATELINE.match(raw)
    if match and (date := parse_date(match.group(1))):
        return date, raw[match.end() :]
    return None, raw


def derive_title(text: str, fallback: str) -> str:
    """A short first line is a headline; otherwise the start of the first sentence."""
    first_line = text.strip().split("\n", 1)[0].strip().lstrip("#").strip()
    if not first_line:
        return fallback
    if len(first_line) <= _TITLE_CHARS and first_line[-1] not in ".?!\"”":
        return first_line
    sentence = re.split(r"(?<=[.?!])\s", first_line, maxsplit=1)[0]
    if len(sentence) <= _TITLE_CHARS:
        return sentence
    return sentence[:_TITLE_CHARS].rsplit(" ", 1)[0] + "…"


def decode_text(data: bytes) -> str:
    """Bytes as article text, or ValueError with the reason they are not."""
    if b"\x00" in data[:8192]:
        raise ValueError("binary file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from None


def _read_text(path: Path) -> str:
    size = path.stat().st_size
    if size > MAX_ARTICLE_BYTES:
        raise ValueError(f"{size / 2**20:.0f} MB is over the {MAX_ARTICLE_BYTES // 2**20} MB limit for one "
                         "article; split it, or use a .jsonl file with one article per line")
    return decode_text(path.read_bytes())


def _article_from_text(path: Path, rel: str) -> Article:
    date, text = split_dateline(_read_text(path))
    if not text.strip():
        raise ValueError("no text")
    return Article(doc_id=rel, title=derive_title(text, path.stem), date=date, text=text, source=rel)


def _articles_from_jsonl(path: Path, rel: str) -> list[Article]:
    """One article per line; the lines that are none are named in one warning, not one each."""
    articles, bad = [], []
    with path.open("rb") as f:
        for line_no, raw in enumerate(f, start=1):
            if raw.strip():
                try:
                    articles.append(_jsonl_article(raw, rel, line_no))
                except ValueError as exc:
                    bad.append(f"line {line_no} ({exc})")
    if bad:
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        log.warning("Skipping %d line%s of %s: %s%s", len(bad), "s" * (len(bad) != 1), rel, ", ".join(bad[:5]), more)
    return articles


def _jsonl_article(raw: bytes, rel: str, line_no: int) -> Article:
    try:
        record = json.loads(decode_text(raw))
        text = str(record.get("text") or record.get("body") or "")
    except (ValueError, AttributeError):
        raise ValueError("not a JSON object") from None
    if not text.strip():
        raise ValueError("no text")
    doc_id = f"{rel}:{line_no}"
    return Article(
        doc_id=doc_id,
        title=str(record.get("title") or "").strip() or derive_title(text, doc_id),
        date=parse_date(record.get("date")),
        text=text,
        source=rel,
        url=record.get("url"),
    )


def load_file(path: Path, corpus_dir: Path) -> list[Article]:
    """The articles of one corpus file; [] with a warning naming it when it can't be used."""
    rel = path.relative_to(corpus_dir).as_posix()
    try:
        if path.suffix.lower() == ".jsonl":
            return _articles_from_jsonl(path, rel)
        return [_article_from_text(path, rel)]
    except (OSError, ValueError) as exc:
        log.warning("Skipping %s: %s", rel, exc)
        return []


def load_articles(corpus_dir: Path) -> list[Article]:
    return [a for path in corpus_files(corpus_dir) for a in load_file(path, corpus_dir)]


MAX_UPLOAD_BYTES = 5 * 1024 * 1024
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def add_article(corpus_dir: Path, name: str, data: bytes) -> Path:
    """Save an uploaded or pasted article into the corpus folder and return its path.

    The name is reduced to a safe base name (no folders, no `..`); an existing file is never
    overwritten: a numbered name is chosen instead. ValueError says what is wrong with a bad one.
    """
    stem, suffix = Path(Path(name.replace("\\", "/")).name).stem, Path(name).suffix.lower()
    if suffix not in ARTICLE_SUFFIXES:
        raise ValueError(f"Only .txt and .md articles can be added, not {suffix or 'a file without extension'}.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValueError(f"The article is {len(data) / 2**20:.1f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB.")
    try:
        text = decode_text(data)
    except ValueError as exc:
        raise ValueError(f"That file can't be read as an article: {exc}.") from None
    if not split_dateline(text)[1].strip():
        raise ValueError("The article is empty.")
    stem = _SAFE_NAME.sub("-", stem).strip(".-")[:80] or "article"
    corpus_dir.mkdir(parents=True, exist_ok=True)
    # Written to a hidden file first (the loader skips those), then linked under its name:
    # link fails rather than overwrite, and no reader ever sees half an article.
    tmp = corpus_dir / f".upload-{os.getpid()}-{threading.get_ident()}.tmp"
    tmp.write_bytes(data)
    try:
        for n in range(1, 10_000):
            path = corpus_dir / (f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}")
            try:
                os.link(tmp, path)
                return path
            except FileExistsError:
                continue
        raise ValueError("Too many articles with that name.")
    finally:
        tmp.unlink(missing_ok=True)
