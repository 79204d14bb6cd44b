"""The usual RAG defaults, run on the same model, to measure this pipeline against.

    python -m rag.eval eval/seed_qa.jsonl --baseline     # its answers, scored like ours
    python -m rag.bench                                   # its speed beside ours

What LlamaIndex, PrivateGPT and the like do out of the box: paragraphs joined into chunks of
about 600 characters, embedded as they are (MiniLM, exact search), the top 4 in one user
message under LlamaIndex's question template and PrivateGPT's system prompt, greedy decoding.
No titles or dates, no BM25, no worked examples or cached prefix, and nothing checks the
answer. Its answers carry no [n] markers, so it cites nothing; the eval counts an answer that
says the context lacks the answer as a refusal.
"""

from __future__ import annotations

import re
import time
from collections.abc import Collection, Sequence

import numpy as np

from rag import embedding
from rag.answer import Answer, Timings, clean_question
from rag.articles import Article, load_articles
from rag.checks import is_refusal
from rag.chunking import Chunk
from rag.config import Settings
from rag.generation import load_generator
from rag.prompting import Message, prompt_size
from rag.retrieval import Passage

CHUNK_CHARS = 600
TOP_K = 4
# PrivateGPT's default system prompt for answering from context (settings.yaml)...
SYSTEM_PROMPT = ("You can only answer questions about the provided context. If you know the answer but it is "
                 "not based in the provided context, don't provide the answer, just state the answer is not "
                 "in the context provided.")
# ... and LlamaIndex's default question template (DEFAULT_TEXT_QA_PROMPT_TMPL).
QUESTION_TEMPLATE = ("Context information is below.\n---------------------\n{context}\n---------------------\n"
                     "Given the context information and not prior knowledge, answer the query.\n"
                     "Query: {question}\nAnswer: ")
# How such a prompt's model declines, beside our own refusal's wording.
_NOT_IN_CONTEXT = re.compile(
    r"not (?:in|found in|provided in|included in|mentioned in) the (?:provided |given )?(?:context|information)|"
    r"(?:context|information) (?:does not|doesn't|did not) (?:provide|mention|say|contain|include|state|specify)|"
    r"(?:do not|don't) (?:know|have (?:enough )?information)", re.IGNORECASE)
_PARAGRAPH = re.compile(r"\S(?:(?!\n\s*\n).)*\S|\S", re.DOTALL)  # text between blank lines, trimmed


def paragraph_chunks(article: Article, size: int = CHUNK_CHARS) -> list[Chunk]:
    """Runs of whole paragraphs of at most `size` characters (a longer paragraph stays whole)."""
    groups: list[list[tuple[int, int]]] = []
    for m in _PARAGRAPH.finditer(article.text):
        if groups and m.end() - groups[-1][0][0] <= size:
            groups[-1].append(m.span())
        else:
            groups.append([m.span()])
    return [Chunk(f"{article.doc_id}#p{n}", article.doc_id, article.source, article.title, article.date,
                  article.text[group[0][0] : group[-1][1]], group[0][0], group[-1][1])
            for n, group in enumerate(groups)]


def declines(text: str) -> bool:
    return is_refusal(text) or bool(_NOT_IN_CONTEXT.search(text))


class Baseline:
    """Answers like `RAG.answer`, the usual way; the corpus is read and embedded once."""

    def __init__(self, settings: Settings | None = None, top_k: int = TOP_K) -> None:
        self.settings = settings or Settings()
        self.top_k = top_k
        self._chunks: list[Chunk] = []
        self._vectors: np.ndarray | None = None

    def refresh(self, progress: bool = True) -> None:
        if self._vectors is None:
            self._chunks = [c for a in load_articles(self.settings.corpus_dir) for c in paragraph_chunks(a)]
            self._vectors = embedding.embed([c.text for c in self._chunks])

    def answer(self, question: str, *, history: Sequence[Message] | None = None, top_k: int | None = None,
               articles: Collection[str] = ()) -> Answer:
        started = time.perf_counter()
        s = self.settings
        question = clean_question(question, s.max_question_chars)
        self.refresh()
        assert self._vectors is not None
        similarities = self._vectors @ embedding.embed_query(question)
        if articles:  # as `RAG.answer`: only these articles' chunks can be picked
            similarities = np.where([c.doc_id in articles for c in self._chunks], similarities, -np.inf)
            if not np.isfinite(similarities).any():
                raise ValueError(f"No article {', '.join(map(repr, articles))} in the corpus.")
        best = np.argsort(-similarities)[: top_k or self.top_k]
        passages = [Passage(n, self._chunks[i], float(similarities[i])) for n, i in enumerate(best, start=1)]
        retrieved = time.perf_counter()
        context = "\n\n".join(p.chunk.text for p in passages)
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, *(history or []),
                    {"role": "user", "content": QUESTION_TEMPLATE.format(context=context, question=question)}]
        generator = load_generator(s.model_path, s.n_ctx, s.n_threads)
        completion = generator.complete(messages, s.max_answer_tokens)
        done = time.perf_counter()
        first_token = completion.first_piece or done
        timings = Timings(retrieved - started, first_token - started, done - started,
                          prompt_size(messages, generator.count_tokens), completion.pieces, done - first_token)
        text = completion.text
        return Answer(question, text.strip(), [], passages, timings, refused=declines(text), raw=text)
