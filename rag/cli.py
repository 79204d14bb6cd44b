"""Stage 10: the command line.

    python -m rag ingest [--corpus DIR]
    python -m rag list [--corpus DIR]          # the indexed articles: file, date, title
    python -m rag ask "What did Umerov call the next step?" [--corpus DIR] [--model PATH] [--top-k K]
                                                             [--article FILE ...]
"""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from rag.answer import RAG, Answer
from rag.config import Settings


def print_answer(result: Answer) -> None:
    print()
    for citation in result.citations:
        date = citation.date.isoformat() if citation.date else "undated"
        print(f"\n[{citation.n}] {citation.title} ({date}, {citation.doc_id})")
        print(textwrap.indent(citation.text, "    "))
    t = result.timings
    print(f"\n(retrieval {t.retrieval_s:.2f}s, first token {t.first_token_s:.2f}s, total {t.total_s:.2f}s)",
          file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag", description="Cited answers from your articles.")
    commands = parser.add_subparsers(dest="command", required=True)
    ingest = commands.add_parser("ingest", help="index the corpus folder (only what changed)")
    listing = commands.add_parser("list", help="list the indexed articles (file, date, title)")
    ask = commands.add_parser("ask", help="answer a question with cited sources")
    ask.add_argument("question")
    ask.add_argument("--model", type=Path, help="any GGUF chat model (default: the 1.5B model in models/)")
    ask.add_argument("--top-k", type=int, help="passages given to the model")
    ask.add_argument("--article", action="append", default=[], metavar="FILE",
                     help="search only this article (its file under the corpus folder); repeatable")
    for sub in (ingest, listing, ask):
        sub.add_argument("--corpus", type=Path, help="article folder (default: $RAG_CORPUS_DIR or seeds/)")
        sub.add_argument("--index", type=Path, help="index folder (default: one per corpus in .rag-index/)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")

    try:
        settings = Settings().with_(corpus_dir=args.corpus, index_dir=args.index,
                                    model_path=getattr(args, "model", None), top_k=getattr(args, "top_k", None))
        bot = RAG(settings)
        if args.command == "ingest":
            report = bot.refresh()
            chunks = bot.index.chunks
            print(f"{len({c.doc_id for c in chunks})} articles, {len(chunks)} chunks in {settings.index_path} "
                  f"(added {len(report.added)}, changed {len(report.changed)}, removed {len(report.removed)}"
                  + (f"; skipped as unreadable: {', '.join(report.skipped)}" if report.skipped else "")
                  + (f"; rebuilt: {report.rebuilt_because}" if report.rebuilt_because else "") + ")")
            return 0
        if args.command == "list":  # the file names are what `ask --article` takes
            articles = {c.doc_id: c for c in bot.index.chunks}
            for doc_id, chunk in articles.items():
                print(f"{doc_id}\t{chunk.date.isoformat() if chunk.date else 'undated'}\t{chunk.title}")
            return 0
        for item in bot.stream(args.question, top_k=args.top_k, articles=args.article):
            if isinstance(item, Answer):
                print(f"\r\033[K{item.text}" if sys.stdout.isatty() else item.text, end="")
                print_answer(item)
            elif sys.stdout.isatty():
                print(item, end="", flush=True)  # live tokens; the checked answer replaces them
        return 0
    except (ValueError, RuntimeError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
