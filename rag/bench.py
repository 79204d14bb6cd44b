"""Speed benchmark: where the time of an answer goes, against a plain RAG pipeline.

    python -m rag.bench [--model PATH] [--runs N]     # the seed questions
    python -m rag.bench --scale 10000                 # ingest and search a synthetic corpus

The plain pipeline is the usual default (`rag.baseline`): paragraph chunks of about 600
characters, MiniLM top 4, LlamaIndex's question template under PrivateGPT's system prompt,
temperature 0, no cached prefix and no checks. It runs in the same process on the same model.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rag.config import Settings

QUESTIONS = [
    "What did Umerov call the next step?",
    "How many prisoners did Russia and Ukraine agree to exchange?",
    "Where did Zelensky meet JD Vance?",
    "On what date did the leaders of Britain, France, Germany and Italy call Trump?",
    "Who is Ukraine's top negotiator?",
    "What did Ukraine accuse Moscow of sending to Istanbul?",
    "How long did the phone call between Trump and Putin last?",
    "What does Russia mean by the root causes of the conflict?",
]


def _stats(values: Sequence[float]) -> str:
    p90 = statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]
    return f"median {statistics.median(values):7.3f}   p90 {p90:7.3f}"


def _rss_mb() -> float:
    """This process's resident memory now (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def raw_decode_speed(llm, tokens: int = 64) -> float:
    """llama.cpp's own decode rate on this model: tokens/s after the first token."""
    stamps = []
    for _ in llm.create_completion("Write a long story about a lighthouse keeper.", max_tokens=tokens,
                                   temperature=0.0, stream=True):
        stamps.append(time.perf_counter())
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


# Run in a new interpreter, as `python -m rag ask` or the app would start.
_COLD_START = """
import json, sys, time
start = time.perf_counter()
from rag import RAG
bot = RAG()
bot.refresh(progress=False)
indexed = time.perf_counter()
bot.load_model()
loaded = time.perf_counter()
bot.answer(sys.argv[1])
print(json.dumps([indexed - start, loaded - indexed, time.perf_counter() - loaded]))
"""


def cold_start(env: dict[str, str]) -> str:
    """One new process from launch to its first answer, with where the time went."""
    took, run = _timed(lambda: subprocess.run([sys.executable, "-c", _COLD_START, QUESTIONS[0]], env=env,
                                              check=True, capture_output=True, text=True))
    index, model, answer = json.loads(run.stdout.strip().splitlines()[-1])
    return (f"{took:5.1f}s (interpreter {took - index - model - answer:.1f}, index {index:.1f}, "
            f"model + prompt prefix {model:.1f}, first answer {answer:.1f})")


def bench_questions(base: Settings, runs: int) -> None:
    from rag import RAG, embedding
    from rag.baseline import Baseline
    from rag.prompting import PREFIX, prompt_size

    with tempfile.TemporaryDirectory() as tmp:
        settings = base.with_(index_dir=Path(tmp) / "index", cache_dir=Path(tmp) / "cache")
        env = {**os.environ, "RAG_MODEL_PATH": str(settings.model_path), "RAG_INDEX_DIR": str(settings.index_dir),
               "RAG_CACHE_DIR": str(settings.cache_dir), "RAG_CORPUS_DIR": str(settings.corpus_dir)}
        print(f"First start ever (builds the index, evaluates and saves the prompt prefix): {cold_start(env)}")
        print(f"Cold start to the first answer:                                             {cold_start(env)}")
        bot = RAG(settings)
        generator = bot.load()  # the embedding model and BM25 too, as the first answer did
        prefix = prompt_size(PREFIX, generator.count_tokens)

        rows: dict[str, list[float]] = {k: [] for k in ("search sentence", "embed", "search", "prompt tokens",
                                                         "first token", "decode tok/s", "answer check", "total",
                                                         "answer tokens")}
        for _ in range(runs):
            for question in QUESTIONS:
                embedding.embed_query.cache_clear()
                rows["embed"].append(_timed(lambda q=question: embedding.embed_query(q))[0])
                # the query vector is cached now, so this times the hybrid search alone
                rows["search"].append(_timed(lambda q=question: bot.retriever.retrieve(q, bot.settings.top_k))[0])
                embedding.embed_query.cache_clear()
                result = bot.answer(question)
                t = result.timings
                if t.search_sentence_s:
                    rows["search sentence"].append(t.search_sentence_s)
                rows["prompt tokens"].append(t.prompt_tokens - prefix)  # the cached prefix costs nothing
                rows["first token"].append(t.first_token_s)
                rows["total"].append(t.total_s)
                rows["answer tokens"].append(t.answer_tokens)
                if t.answer_tokens > 1:  # the tokens after the first, and the end-of-answer token
                    rows["decode tok/s"].append(t.answer_tokens / t.decode_s)
                if t.check_s:
                    rows["answer check"].append(t.check_s)

        baseline = Baseline(bot.settings)
        baseline.refresh()
        plain: dict[str, list[float]] = {"first token": [], "total": [], "decode tok/s": []}
        for _ in range(runs):
            for question in QUESTIONS:
                embedding.embed_query.cache_clear()
                t = baseline.answer(question).timings
                plain["first token"].append(t.first_token_s)
                plain["total"].append(t.total_s)
                if t.answer_tokens > 1:
                    plain["decode tok/s"].append(t.answer_tokens / t.decode_s)
        raw = raw_decode_speed(generator.llm)

        print(f"\n{len(QUESTIONS)} questions x {runs} runs, model {bot.settings.model_path.name}, "
              f"{bot.settings.n_threads} threads (seconds unless noted; prompt tokens beyond the "
              f"{prefix}-token cached prefix)")
        for name, values in rows.items():
            if values:  # no answer check when every answer was declined before it
                print(f"  {name:14} {_stats(values)}")
        print("\nPlain pipeline (paragraph chunks, top 4, no cached prefix):")
        for name, values in plain.items():
            ratio = statistics.median(values) / statistics.median(rows[name])
            print(f"  {name:14} {_stats(values)}   plain/ours {ratio:5.2f}x")
        print(f"\nRaw llama.cpp decode: {raw:.1f} tok/s; ours {statistics.median(rows['decode tok/s']):.1f} tok/s "
              f"({statistics.median(rows['decode tok/s']) / raw:.0%} of raw)")


def bench_scale(settings: Settings, n_articles: int) -> None:
    """Ingest a synthetic corpus, then time search and compare approximate with exact search."""
    import numpy as np

    from rag import embedding
    from rag import index as store
    from rag.articles import load_articles
    from rag.retrieval import Retriever

    rng = random.Random(0)
    # Sentences of random words from the seed corpus: varied like real text, unlike a template
    # filled in with names and numbers, whose near-identical vectors no ANN index can tell apart.
    vocabulary = sorted({w for a in load_articles(settings.corpus_dir) for w in re.findall(r"[A-Za-z]{3,}", a.text)})

    def sentence() -> str:
        return " ".join(rng.choice(vocabulary) for _ in range(rng.randint(8, 20))).capitalize() + "."

    with tempfile.TemporaryDirectory() as tmp:
        corpus, index_dir = Path(tmp) / "corpus", Path(tmp) / "index"
        corpus.mkdir()
        for i in range(n_articles):
            (corpus / f"{i:06d}.txt").write_text(f" date 2025-0{rng.randint(1, 9)}-1{rng.randint(0, 9)} "
                                                 + " ".join(sentence() for _ in range(30)))
        start = time.perf_counter()
        index, _ = store.sync(corpus, index_dir, max_chars=settings.chunk_chars,
                              overlap=settings.chunk_overlap_sentences)
        took = time.perf_counter() - start
        n = len(index.chunks)
        print(f"Ingested {n_articles} articles, {n} chunks in {took:.1f}s: {n / took:.0f} chunks/s "
              f"({type(index.vectors).__name__})")
        print(f"Peak memory after ingest: {_peak_rss_mb():.0f} MB")
        # A question is eight words of one chunk, in order; the hybrid search should find that chunk.
        targets = [index.chunks[i] for i in rng.sample(range(n), 50)]
        questions = []
        for target in targets:
            words = target.text.split()
            questions.append(" ".join(words[i] for i in sorted(rng.sample(range(len(words)), min(8, len(words))))))
        queries = embedding.embed(questions)
        times = [_timed(lambda q=q: index.search(q, 20))[0] * 1000 for q in queries]
        print(f"Dense search (top 20): {_stats(times)} ms")
        retriever = Retriever(index)
        print(f"BM25 build (once per process): {_timed(lambda: retriever.retrieve(questions[0], 3))[0]:.1f}s")
        times, found = [], 0
        for question, target in zip(questions, targets):
            embedding.embed_query(question)  # cached from here on: what follows times search alone
            took, passages = _timed(lambda q=question: retriever.retrieve(q, 3))
            times.append(took * 1000)
            found += any(p.chunk.doc_id == target.doc_id and p.chunk.start <= target.start < p.chunk.end
                         for p in passages)
        print(f"Hybrid search (dense + BM25 + RRF, top 3): {_stats(times)} ms; "
              f"the chunk a question was taken from is in the top 3 for {found} of {len(targets)}")
        exact = store.exact_copy(index.vectors)
        if exact is not index.vectors:
            exact_ms = [_timed(lambda q=q: exact.search(q.reshape(1, -1), 20))[0] * 1000 for q in queries]
            print(f"Exact search (top 20): {_stats(exact_ms)} ms")
            truth = [exact.search(q.reshape(1, -1), 10) for q in queries]
            default_ef = index.vectors.hnsw.efSearch
            for ef in (16, 32, 64, 128, 256):
                index.vectors.hnsw.efSearch = ef
                found = [index.search(q, 10) for q in queries]
                # by position, and by score: synthetic sentences tie, and any of the tied chunks is right
                same = np.mean([len({i for i, _ in f} & set(t[1][0].tolist())) for f, t in zip(found, truth)]) / 10
                good = np.mean([sum(s >= t[0][0][-1] - 1e-5 for _, s in f) for f, t in zip(found, truth)]) / 10
                ms = [_timed(lambda q=q: index.search(q, 20))[0] * 1000 for q in queries]
                print(f"  HNSW efSearch {ef:3}{' (default)' if ef == default_ef else '          '}: recall@10 "
                      f"{same:.3f} by position, {good:.3f} by score; search {_stats(ms)} ms")
            index.vectors.hnsw.efSearch = default_ef
        before = _rss_mb()
        took, loaded = _timed(lambda: store.load(index_dir))
        size = sum(f.stat().st_size for f in index_dir.iterdir()) / 2**20
        print(f"Index load: {took:.2f}s; resident memory +{_rss_mb() - before:.0f} MB for {size:.0f} MB on disk "
              f"({type(loaded.vectors).__name__})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--runs", type=int, default=1, help="passes over the question list")
    parser.add_argument("--scale", type=int, metavar="N", help="benchmark a synthetic corpus of N articles instead")
    args = parser.parse_args(argv)
    try:  # a bad RAG_* value is named here, not in a traceback from the benchmark's depths
        settings = Settings().with_(model_path=args.model)
    except ValueError as exc:
        parser.error(str(exc))
    if args.scale:
        bench_scale(settings, args.scale)
    else:
        bench_questions(settings, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
