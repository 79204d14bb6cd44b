"""Stage 2: split articles into sentence-aware, overlapping chunks.

A chunk is a run of whole sentences of one article, at most `max_chars` long where sentences
allow, and it starts with the last `overlap` sentences of the chunk before it, so that a fact
split across a boundary is whole in one chunk. Each chunk keeps its character span:
`article.text[chunk.start:chunk.end] == chunk.text`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from rag.articles import Article

# A sentence ends at . ! ? (plus closing quotes/brackets) followed by space and a capital,
# digit or opening quote; a blank line always ends one. Common abbreviations don't.
_BOUNDARY = re.compile(r"""(?<=[.!?])["'”’)\]]*\s+(?=["'“‘(\[]?[A-Z0-9])|\n\s*\n""")
_ABBREVIATIONS = re.compile(
    r"\b(?:Mr|Mrs|Ms|Dr|Prof|Sen|Rep|Gov|Gen|Col|Lt|St|Jr|Sr|Inc|Ltd|Co|Corp|vs|No|U\.S|U\.K|a\.m|p\.m|[A-Z])\.$"
)


@dataclass(frozen=True)
class Chunk:
    chunk_id: str  # f"{doc_id}#{n}"
    doc_id: str
    source: str  # the corpus file, whose hash decides when the chunk is re-made
    title: str
    date: dt.date | None
    text: str
    start: int  # character offsets in the article's text
    end: int

    @property
    def indexed_text(self) -> str:
        """What search matches: the chunk under its article's title, so that a chunk that only
        says "the hospital" is still found by the hospital's name."""
        return f"{self.title}\n{self.text}"


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, whitespace trimmed, in order."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        if "\n\n" not in match.group() and _ABBREVIATIONS.search(text[start : match.start()]):
            continue
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    return [trimmed for s, e in spans if (trimmed := _trim(text, s, e))[0] < trimmed[1]]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _split_long(text: str, span: tuple[int, int], max_chars: int) -> list[tuple[int, int]]:
    """Cut a sentence longer than max_chars at spaces (tables, lists, run-on text)."""
    start, end = span
    pieces = []
    while end - start > max_chars:
        cut = text.rfind(" ", start + max_chars // 2, start + max_chars)
        cut = cut if cut > start else start + max_chars
        pieces.append(_trim(text, start, cut))
        start = _trim(text, cut, end)[0]
    pieces.append((start, end))
    return pieces


def chunk_article(article: Article, max_chars: int = 400, overlap: int = 1) -> list[Chunk]:
    text = article.text
    sentences = [piece for span in sentence_spans(text) for piece in _split_long(text, span, max_chars)]
    groups: list[list[tuple[int, int]]] = []
    next_new = 0  # the first sentence no chunk holds yet
    while next_new < len(sentences):
        first = max(0, next_new - overlap)
        # Repeat fewer sentences where repeating them leaves no room for a new one.
        while first < next_new and sentences[next_new][1] - sentences[first][0] > max_chars:
            first += 1
        last = next_new
        while last + 1 < len(sentences) and sentences[last + 1][1] - sentences[first][0] <= max_chars:
            last += 1
        groups.append(sentences[first : last + 1])
        next_new = last + 1
    return [
        Chunk(
            chunk_id=f"{article.doc_id}#{n}",
            doc_id=article.doc_id,
            source=article.source,
            title=article.title,
            date=article.date,
            text=text[group[0][0] : group[-1][1]],
            start=group[0][0],
            end=group[-1][1],
        )
        for n, group in enumerate(groups)
    ]
