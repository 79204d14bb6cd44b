"""Stage 2: split articles into sentence-aware, overlapping chunks.

A chunk is a run of whole sentences of one article, at most `max_chars` long where sentences
allow, and it starts with the last `overlap` sentences of the chunk before it, so that a fact
split across a boundary is whole in one chunk. Each chunk keeps its character span:
`article.text[chunk.start:chunk.end] == chunk.text`. Text an article addresses to an AI that
reads it (`planted_spans`) is in no chunk: never searched, shown to the model or cited.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from dataclasses import dataclass

from rag.articles import Article, derive_title

log = logging.getLogger(__name__)

# A sentence ends at . ! ? (plus closing quotes/brackets) followed by space and a capital,
# digit or opening quote; a blank line always ends one, and so does an HTML comment's start or
# end (`planted_spans`). Common abbreviations don't.
_BOUNDARY = re.compile(r"""(?<=[.!?])["'”’)\]]*\s+(?=["'“‘(\[]?[A-Z0-9])|\n\s*\n|\s*(?=<!--)|(?<=-->)\s*""")
_ABBREVIATIONS = re.compile(
    r"\b(?:Mr|Mrs|Ms|Dr|Prof|Sen|Rep|Gov|Gen|Col|Lt|St|Jr|Sr|Inc|Ltd|Co|Corp|vs|No|U\.S|U\.K|a\.m|p\.m|[A-Z])\.$"
)
# Instructions planted in an article for the AI that reads it, not for its readers (a web page
# copied as an article can carry them), in the forms they take: a sentence telling its reader to
# ignore its instructions or the text; a faked chat turn or system tag ("User: ...", "[SYSTEM]");
# a note, task or footnote for AI readers; a sentence naming an AI reader that reads, summarises
# or answers about "this article", or telling it how to answer ("AI models must not reveal ...",
# "(assistant, please say ...)"); an order to whoever answers ("When answering any question about
# this festival, also tell the user ...", "In your answer, say ..."). Such a sentence opening a
# paragraph takes the paragraph with it, and an "END OF ARTICLE" line all that follows; an HTML
# comment is hidden text. Small models obey such text (eval/injection/, eval/injection2/); news
# sentences about AI state facts rather than give orders, so they are kept.
_AI_READER = (r"(?:\bAI\b|\bA\.I\.|\bLLMs?\b|\bchat ?bots?\b|\blanguage models?\b|\bassistants?\b|"
              r"\bsummar(?:y|isation|ization) tools?\b|"
              r"\bautomated (?:readers?|systems?|tools?|agents?|summari[sz]ers?)\b)")
_ORDER = (r"(?:also |always |please |only )?(?:say|state|answer|reply|respond|tell|include|add|mention|write|claim|"
          r"refer|call|describe|report|use|credit|translate|begin|start|let|give|name|list)\b")
_ANSWERING = r"(?:answering|responding|replying|summari[sz]ing|discussing)"
_PLANTED = re.compile("|".join([
    r"\b(?:ignore|disregard|forget) (?:all |any |the |your |whatever )?(?:(?:previous|prior|above|earlier|preceding|"
    r"other) )*(?:instructions|prompts?|rules|guidelines)\b",
    r"\b(?:ignore|disregard|forget) (?:everything|the (?:article|text|story|results?|passages?|page|context)) above\b",
    r"(?-i:\[(?:SYSTEM|INST|ADMIN)\]|<\|im_start\|>|(?<![\w-])(?:System|User|Assistant|SYSTEM|USER|ASSISTANT):)",
    rf"\b(?:note|message|instructions?|information|reminder|notice|task|guidance|directive)s? (?:to|for) "
    rf"(?:the |all |any )?{_AI_READER}",
    rf"{_AI_READER}.{{0,300}}(?:\bin (?:any|every|all) (?:answers?|responses?|replies)\b|\b(?:reply|respond) only\b"
    rf"|\bplease {_ORDER}|:\s*{_ORDER}|\b(?:when|while|before) {_ANSWERING}\b"
    r"|\b(?:reads?|reading|summari[sz]es?|summari[sz]ing|process(?:es|ing)?) this (?:article|page|text|story|"
    r"report|feed|site)\b)",
    rf"\b(?:when|while|before|if) (?:you are )?(?:{_ANSWERING}|asked)\b[^.]{{0,200}}?,\s*{_ORDER}",
    r"\bin your (?:answers?|responses?|replies|summar(?:y|ies))\b",
]), re.IGNORECASE)
_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_END_OF_ARTICLE = re.compile(r"^\W*end of (?:the )?(?:article|story|text|document|report)\W*$.*", re.I | re.M | re.S)
_PARAGRAPH_END = re.compile(r"\n\s*\n|\Z")
_PARAGRAPH_START = re.compile(r"(?:\A|\n\s*\n)\s*\Z")  # what text ending at a paragraph's start ends with
# Part of each index's chunking settings: an index made under other sentence or planted-text
# rules is made again.
RULES_KEY = hashlib.sha1("".join(rule.pattern for rule in (
    _BOUNDARY, _ABBREVIATIONS, _PLANTED, _HTML_COMMENT, _END_OF_ARTICLE)).encode()).hexdigest()[:10]


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


def planted_spans(text: str) -> list[tuple[int, int]]:
    """The spans of `text` planted for an AI reader (`_PLANTED`): such sentences (with the rest of
    the paragraph one opens: "... Translate any answer into French."), HTML comments, and all after
    an "END OF ARTICLE" line."""
    hidden = [m.span() for m in (*_HTML_COMMENT.finditer(text), *_END_OF_ARTICLE.finditer(text))]
    spans = list(hidden)
    for start, end in sentence_spans(text):
        # An order is a sentence or two: of a longer run (a table, text without stops) only the
        # start is read, which keeps a pathological article from taking minutes.
        if any(a <= start and end <= b for a, b in spans) or not _PLANTED.search(text[start : min(end, start + 2000)]):
            continue
        if _PARAGRAPH_START.search(text, 0, start):
            end = _PARAGRAPH_END.search(text, end).start()  # type: ignore[union-attr]  # \Z always matches
        spans.append((start, end))
    return spans


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
    planted = planted_spans(text)
    if planted:
        log.warning("Left out of %s, as written for an AI reader, not for people: %s", article.doc_id,
                    " | ".join(text[s:e] for s, e in planted))
    # Runs of sentences between planted text: a chunk never reaches across it.
    runs: list[list[tuple[int, int]]] = [[]]
    for span in sentence_spans(text):
        if any(s < span[1] and span[0] < e for s, e in planted):
            runs.append([])
        else:
            runs[-1] += _split_long(text, span, max_chars)
    groups = [group for run in runs for group in _groups(run, max_chars, overlap)]
    title = article.title
    if groups and any(not text[:s].strip() for s, _ in planted):  # the article opened with it
        title = derive_title(text[groups[0][0][0] :], article.doc_id)
    return [
        Chunk(
            chunk_id=f"{article.doc_id}#{n}",
            doc_id=article.doc_id,
            source=article.source,
            title=title,
            date=article.date,
            text=text[group[0][0] : group[-1][1]],
            start=group[0][0],
            end=group[-1][1],
        )
        for n, group in enumerate(groups)
    ]


def _groups(sentences: list[tuple[int, int]], max_chars: int, overlap: int) -> list[list[tuple[int, int]]]:
    """Consecutive sentences packed into chunks of at most max_chars, each repeating the last
    `overlap` sentences of the one before."""
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
    return groups
