"""Stage 5: find the passages for a question: dense (MiniLM + FAISS) and BM25, fused by RRF.

Dense search finds paraphrases; BM25 finds rare exact words (names, numbers) that MiniLM blurs.
Reciprocal rank fusion combines the two rankings without calibrating their scores.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace

import bm25s
import numpy as np

from rag import embedding
from rag.chunking import Chunk
from rag.index import Index

logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets itself to DEBUG, which floods the CLI

# 1 rather than the usual 60: each ranking's very top counts most. On long articles (seed,
# holdout2) the chunk that answers is often first in one ranking and far down the other; with
# 60 such a chunk lost to chunks both rankings put middling (eval/HISTORY.md).
RRF_K = 1
CANDIDATES = 20  # from each ranking before fusion
# BM25's term-frequency saturation and length normalisation, above bm25s's defaults 1.5 and
# 0.75 (its Lucene variant's; Lucene itself uses k1 1.2), meant for documents far longer than
# our few-sentence chunks. Read off replayed grids: recall@3 over the eight question sets
# 396 -> 402 of 426 evidence questions, none lower; kept because the answers followed, a few
# more right with each set's own corpus and with all eight in one folder (eval/HISTORY.md).
BM25_K1 = 2.0
BM25_B = 1.0
# How far down the fused ranking a passage of the answer's form (`retrieve`) is brought up from.
FORM_WINDOW = 6


@dataclass(frozen=True)
class Passage:
    n: int  # its number in the prompt, as the answer's [n] markers use it
    chunk: Chunk
    similarity: float  # cosine similarity of question and chunk


class Retriever:
    """Hybrid search over one loaded index; the BM25 side is built once, in memory."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self._bm25: bm25s.BM25 | None = None

    def _bm25_ranking(self, query: str, k: int, within: Sequence[int] | None) -> list[int]:
        if self._bm25 is None:
            self._bm25 = bm25s.BM25(k1=BM25_K1, b=BM25_B)
            self._bm25.index(bm25s.tokenize([c.indexed_text for c in self.index.chunks], stopwords="en",
                                            show_progress=False), show_progress=False)
        tokens = bm25s.tokenize([query], stopwords="en", show_progress=False)
        if not tokens.ids[0]:
            return []
        mask = None
        if within is not None:
            mask = np.zeros(len(self.index.chunks), dtype=np.float32)
            mask[within] = 1.0
        ids, scores = self._bm25.retrieve(tokens, k=min(k, len(self.index.chunks)), weight_mask=mask,
                                          show_progress=False)
        return [int(i) for i, s in zip(ids[0], scores[0]) if s > 0]

    def retrieve(self, query: str, top_k: int, has_answer_form: Callable[[str], bool] | None = None,
                 articles: Collection[str] = ()) -> list[Passage]:
        """The top_k chunks for `query`, numbered from 1 in reading order (`in_reading_order`);
        only from `articles` (their doc_ids) when any are given.

        `has_answer_form` tells whether a chunk's text could hold the answer at all (a number for
        "how many", a date for "when"): of the best FORM_WINDOW chunks, those that could come
        first. In long articles the chunk that answers is often just below the top, under
        chunks on the same topic that give no figure.
        """
        if not self.index.chunks:
            return []
        within = self.index.positions(articles) if articles else None
        query_vector = embedding.embed_query(query)
        dense = self.index.search(query_vector, CANDIDATES, within)
        fused: dict[int, float] = {}
        for ranking in ([i for i, _ in dense], self._bm25_ranking(query, CANDIDATES, within)):
            for rank, i in enumerate(ranking):
                fused[i] = fused.get(i, 0.0) + 1.0 / (RRF_K + rank)
        ranked = sorted(fused, key=fused.__getitem__, reverse=True)
        if has_answer_form is not None:
            head = ranked[:FORM_WINDOW]
            fits = [i for i in head if has_answer_form(self.index.chunks[i].text)]
            ranked = fits + [i for i in ranked if i not in fits]
        best: list[int] = []
        seen: set[str] = set()
        for i in ranked:
            text = self.index.chunks[i].text
            if text not in seen:  # duplicate articles would only repeat a passage
                seen.add(text)
                best.append(i)
            if len(best) == top_k:
                break
        picked = list(zip([self.index.chunks[i] for i in best], self._similarities(query_vector, best)))
        return [Passage(n, chunk, sim) for n, (chunk, sim) in enumerate(in_reading_order(picked), start=1)]

    def _similarities(self, query_vector: np.ndarray, positions: list[int]) -> list[float]:
        vectors = np.stack([self.index.vectors.reconstruct(i) for i in positions])
        return [float(s) for s in vectors @ query_vector]


def in_reading_order(picked: list[tuple[Chunk, float]]) -> list[tuple[Chunk, float]]:
    """Chunks grouped by article (the best article first), each article's in text order, and
    overlapping neighbours joined into one: the prompt then dates each article once and carries
    each sentence once, and the model reads the article's sentences in their own order."""
    by_article: dict[str, list[tuple[Chunk, float]]] = {}
    for chunk, similarity in picked:
        by_article.setdefault(chunk.doc_id, []).append((chunk, similarity))
    ordered: list[tuple[Chunk, float]] = []
    for parts in by_article.values():
        for chunk, similarity in sorted(parts, key=lambda part: part[0].start):
            last, last_similarity = ordered[-1] if ordered else (None, 0.0)
            if last is not None and last.doc_id == chunk.doc_id and chunk.start <= last.end:
                # `text == article[start:end]`, so the overlap is cut off by offsets
                tail = chunk.text[last.end - chunk.start :]
                joined = replace(last, text=last.text + tail, end=max(last.end, chunk.end))
                ordered[-1] = (joined, max(last_similarity, similarity))
            else:
                ordered.append((chunk, similarity))
    return ordered
