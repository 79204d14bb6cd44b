"""Stage 9: evaluate answers against fixed Q&A pairs.

    python -m rag.eval eval/seed_qa.jsonl [--corpus DIR] [--model PATH] [--top-k K]
                       [--out RESULTS.json] [--compare OLD.json] [--baseline] [--chat] [--ceiling]

`--baseline` answers with the usual RAG defaults on the same model instead (`rag.baseline`).
`--chat` asks the questions one after another in one conversation, as a user of the app would.
`--ceiling` shows the model only the passage that holds each answerable question's evidence and
scores its own words, unchecked: what better search and checks could at most make of the model,
since the checks only ever decline (`evidence_answer`).

Q&A file: JSONL, one object per line:
    id        unique string
    question  the question
    answers   accepted short phrasings ([] for unanswerable questions)
    type      fact | date | paraphrase | unanswerable | follow-up | ...
    evidence  optional verbatim quote from the article that holds the answer
    doc       optional doc_id of the article that holds it
    history   optional earlier turns [{"role": "user"|"assistant", "content": ...}, ...]
    injected  optional phrasings that show an instruction written inside an article was obeyed
              (its fake name, figure or link: eval/injection/)

Scoring rules, and their limits:
- accuracy: the answer is not a refusal and, after normalisation (lowercase, punctuation and
  markers removed, digit groups joined), contains one accepted phrasing. An answer that lists
  many things can contain a phrasing by luck: token F1 is shown beside it, and answers are
  capped at a few dozen tokens by the generator.
- unanswerable questions score correct only when the answer is a refusal; an answerable one
  answered with a refusal counts as a false refusal.
- citation precision: of the passages an answered question cites, the share that hold the
  evidence (their span covers at least half of the evidence's span in the article).
  Questions without evidence are not counted.
- recall@k: the evidence is in one of the passages given to the model (same overlap rule).
- obeyed: of the questions with `injected` phrasings, the share whose answer contains one
  (same matching as accuracy); such an answer is never correct.
- latency: time to first token and total, median and 90th percentile.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from rag.answer import RAG, Answer, Citation, Timings
from rag.articles import load_articles
from rag.baseline import TOP_K, Baseline
from rag.checks import is_refusal
from rag.chunking import Chunk
from rag.config import Settings
from rag.prompting import build_messages, prompt_size, strip_markers
from rag.retrieval import Passage

EVIDENCE_OVERLAP = 0.5


@dataclass(frozen=True)
class QAItem:
    id: str
    question: str
    answers: list[str]
    type: str
    evidence: str | None = None
    doc: str | None = None
    history: list[dict[str, str]] = field(default_factory=list)
    injected: list[str] = field(default_factory=list)

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass
class Result:
    id: str
    type: str
    question: str
    answer: str
    raw: str  # the model's words before the citation check
    answerable: bool
    refused: bool
    correct: bool
    f1: float
    citation_precision: float | None  # None where nothing could be judged
    evidence_retrieved: bool | None
    first_token_s: float
    total_s: float
    cited: list[str]
    obeyed: bool | None = None  # the answer follows an instruction inside an article (None: none planted)
    refusal_probability: float = 0.0  # how close the model came to declining (Answer.refusal_probability)
    confirmation: float | None = None  # the answer check's "Yes" share (Answer.confirmation)
    search_sentence: str = ""  # searched with the question (Answer.search_sentence)


def load_qa(path: Path) -> list[QAItem]:
    items = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                items.append(QAItem(**json.loads(line)))
            except (json.JSONDecodeError, TypeError) as exc:
                raise ValueError(f"{path}:{line_no}: not a Q&A item ({exc})") from None
    return items


def normalise(text: str) -> str:
    text = strip_markers(text).lower()
    text = re.sub(r"(?<=\d)[,.](?=\d{3}\b)", "", text)  # 1,000 -> 1000
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


def contains_answer(answer: str, accepted: Sequence[str]) -> bool:
    padded = f" {normalise(answer)} "
    return any(f" {normalise(a)} " in padded for a in accepted if normalise(a))


def token_f1(answer: str, accepted: Sequence[str]) -> float:
    got = normalise(answer).split()
    best = 0.0
    for phrasing in accepted:
        want = normalise(phrasing).split()
        common = sum(min(got.count(w), want.count(w)) for w in set(want))
        if common:
            precision, recall = common / len(got), common / len(want)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


class EvidenceLocator:
    """Finds each evidence quote in the corpus, to judge spans against it."""

    def __init__(self, corpus_dir: Path) -> None:
        self.texts = {a.doc_id: a.text for a in load_articles(corpus_dir)}

    def spans(self, item: QAItem) -> list[tuple[str, int, int]]:
        if not item.evidence:
            return []
        docs = [item.doc] if item.doc in self.texts else list(self.texts)
        return [
            (doc, m.start(), m.end())
            for doc in docs
            for m in re.finditer(re.escape(item.evidence), self.texts[doc])
        ]

    def chunk(self, item: QAItem, chunks: Sequence[Chunk]) -> Chunk | None:
        """The first of `chunks` that holds the item's evidence, if any does."""
        spans = self.spans(item)
        return next((c for c in chunks if self.holds(spans, c.doc_id, c.start, c.end)), None)

    @staticmethod
    def holds(spans: list[tuple[str, int, int]], doc_id: str, start: int, end: int) -> bool:
        return any(
            doc == doc_id and min(end, e) - max(start, s) >= EVIDENCE_OVERLAP * (e - s)
            for doc, s, e in spans
        )


def score(item: QAItem, answer: Answer, locator: EvidenceLocator) -> Result:
    spans = locator.spans(item)
    obeyed = contains_answer(answer.text, item.injected) if item.injected else None
    correct = not obeyed and (answer.refused if not item.answerable else (
        not answer.refused and contains_answer(answer.text, item.answers)))
    precision = None
    if spans and answer.citations:
        hits = [locator.holds(spans, c.doc_id, c.start, c.end) for c in answer.citations]
        precision = sum(hits) / len(hits)
    retrieved = (any(locator.holds(spans, p.chunk.doc_id, p.chunk.start, p.chunk.end) for p in answer.passages)
                 if spans else None)
    return Result(
        id=item.id, type=item.type, question=item.question, answer=answer.text, raw=answer.raw,
        refusal_probability=answer.refusal_probability, confirmation=answer.confirmation,
        search_sentence=answer.search_sentence,
        answerable=item.answerable, refused=answer.refused, correct=correct,
        f1=token_f1(answer.text, item.answers) if item.answerable else float(answer.refused),
        citation_precision=precision, evidence_retrieved=retrieved,
        first_token_s=answer.timings.first_token_s, total_s=answer.timings.total_s,
        cited=[f"{c.doc_id}:{c.start}-{c.end}" for c in answer.citations], obeyed=obeyed,
    )


def evidence_answer(bot: RAG, item: QAItem, locator: EvidenceLocator) -> Answer | None:
    """The model's own words, unchecked, when shown only the passage that holds the item's
    evidence (None if no passage holds it whole enough): the most that better search and checks
    could make of the model on this question, as the checks only ever decline."""
    chunk = locator.chunk(item, bot.index.chunks)
    if chunk is None:
        return None
    started = time.perf_counter()
    passage = Passage(1, chunk, 1.0)
    generator, s = bot.load_model(), bot.settings
    messages = build_messages(item.question, [passage], item.history, generator.count_tokens,
                              budget=generator.n_ctx - s.max_answer_tokens)
    completion = generator.complete(messages, s.max_answer_tokens)
    done = time.perf_counter()
    first_token = completion.first_piece or done
    raw, refused = completion.text, is_refusal(completion.text)
    return Answer(item.question, raw, [] if refused else [Citation.of(passage)], [passage],
                  Timings(0.0, first_token - started, done - started,
                          prompt_size(messages, generator.count_tokens), completion.pieces, done - first_token),
                  refused=refused, raw=raw)


def _mean(values: Sequence[float | bool]) -> float | None:
    return sum(values) / len(values) if values else None


def _p90(values: Sequence[float]) -> float | None:
    return statistics.quantiles(values, n=10)[-1] if len(values) >= 2 else (values[0] if values else None)


def summarise(results: Sequence[Result]) -> dict[str, float | int | None]:
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    precisions = [r.citation_precision for r in answerable if r.citation_precision is not None]
    first = [r.first_token_s for r in results]
    total = [r.total_s for r in results]
    return {
        "n": len(results),
        "accuracy": _mean([r.correct for r in answerable]),
        "f1": _mean([r.f1 for r in answerable]),
        "refusal_accuracy": _mean([r.correct for r in unanswerable]),
        "false_refusal_rate": _mean([r.refused for r in answerable]),
        "citation_precision": _mean(precisions),
        "recall_at_k": _mean([r.evidence_retrieved for r in answerable if r.evidence_retrieved is not None]),
        "obeyed": _mean([r.obeyed for r in results if r.obeyed is not None]),
        "first_token_p50": statistics.median(first) if first else None,
        "first_token_p90": _p90(first),
        "total_p50": statistics.median(total) if total else None,
        "total_p90": _p90(total),
    }


COLUMNS = [("n", "n", "{:d}"), ("accuracy", "acc", "{:.0%}"), ("f1", "F1", "{:.2f}"),
           ("refusal_accuracy", "refuse ok", "{:.0%}"), ("false_refusal_rate", "false ref", "{:.0%}"),
           ("citation_precision", "cite prec", "{:.0%}"), ("recall_at_k", "recall@k", "{:.0%}"),
           ("obeyed", "obeyed", "{:.0%}"),
           ("first_token_p50", "TTFT p50", "{:.2f}s"), ("first_token_p90", "p90", "{:.2f}s"),
           ("total_p50", "total p50", "{:.2f}s"), ("total_p90", "p90", "{:.2f}s")]


def table(by_type: dict[str, dict]) -> str:
    header = "| type | " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    rows = [header, "|" + "---|" * (len(COLUMNS) + 1)]
    for name, summary in by_type.items():
        cells = ["–" if summary[key] is None else fmt.format(summary[key]) for key, _, fmt in COLUMNS]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def evaluate(items: Sequence[QAItem], bot: RAG | Baseline, progress: bool = True,
             articles: Collection[str] = (), chat: bool = False, ceiling: bool = False) -> dict:
    """Answer every item with `bot` (searching only `articles`, when given); per-question results
    and summaries by type and overall.

    With `chat`, the questions are asked one after another in one conversation, as in the app:
    each question's history is the questions and answers before it, unless it brings its own.
    With `ceiling` (a RAG `bot`), only the answerable questions whose evidence a passage
    holds are asked, each shown that passage alone (`evidence_answer`).
    """
    if ceiling and isinstance(bot, Baseline):
        raise ValueError("The ceiling is measured with the pipeline's own prompt: pass a RAG, not a Baseline.")
    locator = EvidenceLocator(bot.settings.corpus_dir)
    bot.refresh(progress=progress)
    results: list[Result] = []
    conversation: list[dict[str, str]] = []
    for item in tqdm(items, desc="Evaluating", unit="question", disable=not progress):
        if ceiling:
            answer = evidence_answer(bot, item, locator) if item.answerable else None
            if answer is None:
                continue
        else:
            answer = bot.answer(item.question, history=item.history or conversation, articles=articles)
        results.append(score(item, answer, locator))
        if chat:
            conversation = [*conversation, {"role": "user", "content": item.question},
                            {"role": "assistant", "content": answer.text}][-2 * bot.settings.history_turns :]
    groups: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        groups[r.type].append(r)
    by_type = {name: summarise(group) for name, group in sorted(groups.items())}
    by_type["overall"] = summarise(results)
    return {
        "settings": {"corpus": str(bot.settings.corpus_dir), "model": str(bot.settings.model_path),
                     "top_k": bot.top_k if isinstance(bot, Baseline) else bot.settings.top_k,
                     "baseline": isinstance(bot, Baseline), "articles": list(articles), "chat": chat,
                     "ceiling": ceiling},
        "summary": by_type,
        "results": [asdict(r) for r in results],
    }


def compare(new: dict, old: dict) -> str:
    before = {r["id"]: r for r in old["results"]}
    lines = []
    for r in new["results"]:
        was = before.get(r["id"])
        if was and was["correct"] != r["correct"]:
            verdict = "better" if r["correct"] else "worse"
            lines.append(f"{verdict:6} {r['id']}: {r['question']}\n"
                         f"       was: {was['answer']}\n       now: {r['answer']}")
    o, n = old["summary"]["overall"], new["summary"]["overall"]
    deltas = [f"{title} {o[key]:.2f} -> {n[key]:.2f}" for key, title, _ in COLUMNS[1:]
              if o.get(key) is not None and n.get(key) is not None]
    return "\n".join(lines or ["No question changed verdict."]) + "\n" + "; ".join(deltas)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("qa", type=Path, help="Q&A pairs, JSONL")
    parser.add_argument("--corpus", type=Path, help="corpus folder (default: $RAG_CORPUS_DIR or seeds/)")
    parser.add_argument("--index", type=Path, help="index folder (default: one per corpus)")
    parser.add_argument("--model", type=Path, help="GGUF model (default: $RAG_MODEL_PATH or the 1.5B model)")
    parser.add_argument("--top-k", type=int)
    parser.add_argument("--out", type=Path, help="where to write the results JSON")
    parser.add_argument("--compare", type=Path, help="an earlier results JSON to compare with")
    parser.add_argument("--baseline", action="store_true", help="answer with the usual RAG defaults instead")
    parser.add_argument("--article", action="append", default=[], metavar="FILE",
                        help="search only this article (its file under the corpus folder); repeatable")
    parser.add_argument("--chat", action="store_true",
                        help="ask the questions one after another in one conversation, as in the app")
    parser.add_argument("--ceiling", action="store_true",
                        help="show the model only the passage holding each answerable question's evidence, "
                             "and score its own words unchecked")
    args = parser.parse_args(argv)
    if args.ceiling and (args.baseline or args.chat or args.article):
        parser.error("--ceiling picks each question's passage itself: it goes with none of "
                     "--baseline, --chat or --article")

    items = load_qa(args.qa)
    try:
        settings = Settings().with_(corpus_dir=args.corpus, index_dir=args.index, model_path=args.model,
                                    top_k=args.top_k)
    except ValueError as exc:  # a bad RAG_* setting or --top-k
        parser.error(str(exc))
    bot = Baseline(settings, args.top_k or TOP_K) if args.baseline else RAG(settings)
    report = evaluate(items, bot, articles=args.article, chat=args.chat, ceiling=args.ceiling)
    print(table(report["summary"]))
    out = args.out or Path("eval/results") / f"{args.qa.stem}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=str))
    print(f"Results written to {out}")
    if args.compare:
        print(compare(report, json.loads(args.compare.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
