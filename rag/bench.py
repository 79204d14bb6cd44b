"""Speed benchmark: where the time of an answer goes, against a plain RAG pipeline.

    python -m rag.bench [--model PATH] [--runs N]     # the seed questions
    python -m rag.bench --scale 10000                 # ingest and search a synthetic corpus

The plain pipeline is the usual default: paragraph chunks of about 600 characters, MiniLM +
FAISS top 4, the passages and question in one user message of the model's chat template,
temperature 0, no cached prefix and no checks. It runs in the same process on the same model.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

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


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def plain_answer(llm, chunks: list[str], vectors, question: str) -> tuple[float, float, int]:
    """The plain pipeline's (time to first token, total, answer tokens) for one question."""
    import numpy as np

    from rag import embedding

    start = time.perf_counter()
    query = embedding.embed([question])[0]
    best = np.argsort(-(vectors @ query))[:4]
    context = "\n\n".join(chunks[i] for i in best)
    messages = [{"role": "user", "content": f"Context:\n{context}\n\nAnswer the question using the context.\n"
                                            f"Question: {question}"}]
    first, tokens = None, 0
    for part in llm.create_chat_completion(messages, temperature=0.0, max_tokens=96, stream=True):
        if part["choices"][0]["delta"].get("content"):
            first = first or time.perf_counter()
            tokens += 1
    done = time.perf_counter()
    return (first or done) - start, done - start, tokens


def paragraph_chunks(text: str, size: int = 600) -> list[str]:
    chunks, current = [], ""
    for paragraph in (p.strip() for p in text.split("\n\n") if p.strip()):
        if current and len(current) + len(paragraph) > size:
            chunks.append(current)
            current = ""
        current = f"{current}\n\n{paragraph}".strip()
    return chunks + [current] if current else chunks


def raw_decode_speed(llm, tokens: int = 64) -> float:
    """llama.cpp's own decode rate on this model: tokens/s after the first token."""
    stamps = []
    for _ in llm.create_completion("Write a long story about a lighthouse keeper.", max_tokens=tokens,
                                   temperature=0.0, stream=True):
        stamps.append(time.perf_counter())
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def bench_questions(model: Path | None, runs: int) -> None:
    # `python -m rag.bench` has imported the package already: time a fresh interpreter's imports.
    imports = _timed(lambda: subprocess.run(
        [sys.executable, "-c", "import rag, faiss, torch, sentence_transformers, llama_cpp"], check=True))[0]
    from rag import RAG, Settings, embedding
    from rag.articles import load_articles
    from rag.prompting import PREFIX, prompt_size

    imported = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        bot = RAG(Settings().with_(model_path=model, index_dir=Path(tmp) / "index"))
        bot.refresh(progress=False)
        indexed = time.perf_counter()
        generator = bot.load_model()
        loaded = time.perf_counter()
        bot.answer(QUESTIONS[0])
        first_answer = time.perf_counter()
    print(f"Cold start: imports {imports:.2f}s, embed + index {indexed - imported:.2f}s, "
          f"model load + prefix {loaded - indexed:.2f}s, first answer {first_answer - loaded:.2f}s; "
          f"total to first answer {imports + first_answer - imported:.2f}s")
    prefix = prompt_size(PREFIX, generator.count_tokens)

    rows: dict[str, list[float]] = {k: [] for k in ("embed", "search", "prompt tokens", "first token", "decode tok/s",
                                                     "total", "answer tokens")}
    for _ in range(runs):
        for question in QUESTIONS:
            embedding.embed_query.cache_clear()
            rows["embed"].append(_timed(lambda q=question: embedding.embed_query(q))[0])
            # the query vector is cached now, so this times the hybrid search alone
            rows["search"].append(_timed(lambda q=question: bot.retriever.retrieve(q, bot.settings.top_k))[0])
            embedding.embed_query.cache_clear()
            result = bot.answer(question)
            t = result.timings
            rows["prompt tokens"].append(t.prompt_tokens - prefix)  # the cached prefix costs nothing
            rows["first token"].append(t.first_token_s)
            rows["total"].append(t.total_s)
            rows["answer tokens"].append(t.answer_tokens)
            if t.answer_tokens > 1:
                rows["decode tok/s"].append((t.answer_tokens - 1) / max(t.total_s - t.first_token_s, 1e-6))

    article = load_articles(bot.settings.corpus_dir)
    chunks = [c for a in article for c in paragraph_chunks(a.text)]
    vectors = embedding.embed(chunks)
    plain = {"first token": [], "total": [], "decode tok/s": []}
    for _ in range(runs):
        for question in QUESTIONS:
            first, total, tokens = plain_answer(generator.llm, chunks, vectors, question)
            plain["first token"].append(first)
            plain["total"].append(total)
            if tokens > 1:
                plain["decode tok/s"].append((tokens - 1) / max(total - first, 1e-6))
    raw = raw_decode_speed(generator.llm)

    print(f"\n{len(QUESTIONS)} questions x {runs} runs, model {bot.settings.model_path.name}, "
          f"{bot.settings.n_threads} threads (seconds unless noted; prompt tokens beyond the "
          f"{prefix}-token cached prefix)")
    for name, values in rows.items():
        print(f"  {name:14} {_stats(values)}")
    print("\nPlain pipeline (paragraph chunks, top 4, no cached prefix):")
    for name, values in plain.items():
        ratio = statistics.median(values) / statistics.median(rows[name])
        print(f"  {name:14} {_stats(values)}   plain/ours {ratio:5.2f}x")
    print(f"\nRaw llama.cpp decode: {raw:.1f} tok/s; ours {statistics.median(rows['decode tok/s']):.1f} tok/s "
          f"({statistics.median(rows['decode tok/s']) / raw:.0%} of raw)")


def bench_scale(n_articles: int) -> None:
    """Ingest a synthetic corpus, then time search and compare approximate with exact search."""
    import numpy as np

    from rag import Settings, embedding
    from rag import index as store

    settings = Settings()
    rng = random.Random(0)
    topics = ["council", "harbour", "orchestra", "vaccine", "railway", "harvest", "museum", "startup",
              "election", "storm", "bridge", "school", "river", "festival", "court", "airport"]
    places = [f"{a}{b}" for a in ("Ash", "Bel", "Cor", "Dun", "Els", "Fen", "Gal", "Hol") for b in ("ford", "ton",
                                                                                                  "mere", "wick")]
    with tempfile.TemporaryDirectory() as tmp:
        corpus, index_dir = Path(tmp) / "corpus", Path(tmp) / "index"
        corpus.mkdir()
        for i in range(n_articles):
            topic, place = rng.choice(topics), rng.choice(places)
            sentences = [f"The {topic} in {place} reported {rng.randint(2, 9000)} new cases of item {i}-{j}, "
                         f"officials said on {rng.choice(['Monday', 'Tuesday', 'Friday'])}." for j in range(30)]
            (corpus / f"{i:06d}.txt").write_text(f" date 2025-0{rng.randint(1, 9)}-1{rng.randint(0, 9)} "
                                                 + " ".join(sentences))
        start = time.perf_counter()
        index, _ = store.sync(corpus, index_dir, max_chars=settings.chunk_chars,
                              overlap=settings.chunk_overlap_sentences)
        took = time.perf_counter() - start
        n = len(index.chunks)
        print(f"Ingested {n_articles} articles, {n} chunks in {took:.1f}s: {n / took:.0f} chunks/s "
              f"({type(index.vectors).__name__})")
        queries = embedding.embed([f"How many cases did the {rng.choice(topics)} in {rng.choice(places)} report?"
                                   for _ in range(50)])
        times = [_timed(lambda q=q: index.search(q, 20))[0] * 1000 for q in queries]
        print(f"Search (top 20): {_stats(times)} ms")
        exact = store.exact_copy(index.vectors)
        if exact is not index.vectors:
            hits = [len({i for i, _ in index.search(q, 10)} & set(exact.search(q.reshape(1, -1), 10)[1][0].tolist()))
                    for q in queries]
            exact_ms = [_timed(lambda q=q: exact.search(q.reshape(1, -1), 20))[0] * 1000 for q in queries]
            print(f"Recall@10 against exact search: {np.mean(hits) / 10:.3f}; exact search {_stats(exact_ms)} ms")
        start = time.perf_counter()
        store.load(index_dir)
        print(f"Index load: {time.perf_counter() - start:.2f}s")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--runs", type=int, default=1, help="passes over the question list")
    parser.add_argument("--scale", type=int, metavar="N", help="benchmark a synthetic corpus of N articles instead")
    args = parser.parse_args(argv)
    if args.scale:
        bench_scale(args.scale)
    else:
        bench_questions(args.model, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
