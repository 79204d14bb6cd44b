"""Stage 10: the command line.

    python -m rag ingest [--corpus DIR]
    python -m rag list [--corpus DIR]          # the indexed articles: file, date, title
    python -m rag ask "What did Umerov call the next step?" [--corpus DIR] [--model PATH] [--top-k K]
                                                             [--article FILE ...]
    python -m rag chat [same options as ask]   # questions one after another; follow-ups see the conversation
"""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap
import time
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

from rag.answer import RAG, Answer
from rag.config import Settings
from rag.prompting import Message


def print_answer(result: Answer) -> None:
    print()
    for citation in result.citations:
        date = citation.date.isoformat() if citation.date else "undated"
        print(f"\n[{citation.n}] {citation.title} ({date}, {citation.doc_id})")
        print(textwrap.indent(citation.text, "    "))
    t = result.timings
    print(f"\n(retrieval {t.retrieval_s:.2f}s, first token {t.first_token_s:.2f}s, total {t.total_s:.2f}s)",
          file=sys.stderr)


def load(bot: RAG) -> None:
    """Load the index and the models before the first question, saying so on a terminal: it takes
    seconds, and longer at the first start (the articles are embedded, the prompt prefixes saved)."""
    if not sys.stderr.isatty():
        bot.load()
        return
    print("Loading the articles and the model…", file=sys.stderr, flush=True)
    start = time.perf_counter()
    bot.load(progress=True)
    n = len(bot.index.doc_ids)
    print(f"Ready in {time.perf_counter() - start:.1f}s ({n} article{'s' * (n != 1)} in {bot.settings.corpus_dir}).",
          file=sys.stderr)


def ask(bot: RAG, question: str, history: list[Message], articles: list[str]) -> Answer:
    """Print the answer as it is written, then the checked answer with its sources."""
    # closing: a Ctrl-C mid-answer ends the stream at once, so the model is free for the next question.
    with closing(bot.stream(question, history=history, articles=articles)) as items:
        for item in items:
            if isinstance(item, Answer):
                print(f"\r\033[K{item.text}" if sys.stdout.isatty() else item.text, end="")
                print_answer(item)
                return item
            if sys.stdout.isatty():
                print(item, end="", flush=True)  # live tokens; the checked answer replaces them
    raise AssertionError("stream ended without an Answer")


def chat(bot: RAG, articles: list[str]) -> None:
    """Questions from the terminal until end of input or Ctrl-C at the prompt; each answered with the
    conversation so far. Ctrl-C while an answer is written stops that answer only."""
    load(bot)
    if sys.stderr.isatty():
        print("Ctrl-C stops an answer; at the prompt, Ctrl-C or Ctrl-D ends the chat.", file=sys.stderr)
    history: list[Message] = []
    while True:
        try:
            question = input("\n> ")
        except (EOFError, KeyboardInterrupt):
            print()
            return
        if not question.strip():
            continue
        try:
            result = ask(bot, question, history, articles)
        except ValueError as exc:  # a question too long: say so and keep the conversation
            print(f"error: {exc}", file=sys.stderr)
            continue
        except KeyboardInterrupt:  # the stopped answer stays out of the conversation
            print("\n(stopped)", file=sys.stderr)
            continue
        history += [{"role": "user", "content": result.question}, {"role": "assistant", "content": result.text}]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag", description="Cited answers from your articles.")
    commands = parser.add_subparsers(dest="command", required=True)
    ingest = commands.add_parser("ingest", help="index the corpus folder (only what changed)")
    listing = commands.add_parser("list", help="list the indexed articles (file, date, title)")
    asking = commands.add_parser("ask", help="answer a question with cited sources")
    asking.add_argument("question")
    chatting = commands.add_parser("chat", help="answer questions typed one after another, follow-ups too")
    for sub in (asking, chatting):
        sub.add_argument("--model", type=Path, help="any GGUF chat model (default: the 1.5B model in models/)")
        sub.add_argument("--top-k", type=int, help="passages given to the model")
        sub.add_argument("--article", action="append", default=[], metavar="FILE",
                         help="search only this article (its file under the corpus folder); repeatable")
    for sub in (ingest, listing, asking, chatting):
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
            print(f"{len(bot.index.doc_ids)} articles, {len(chunks)} chunks in {settings.index_path} "
                  f"(added {len(report.added)}, changed {len(report.changed)}, removed {len(report.removed)}"
                  + (f"; skipped as unreadable: {', '.join(report.skipped)}" if report.skipped else "")
                  + (f"; rebuilt: {report.rebuilt_because}" if report.rebuilt_because else "") + ")")
            return 0
        if args.command == "list":  # the file names are what `ask --article` takes
            articles = {c.doc_id: c for c in bot.index.chunks}
            for doc_id, chunk in articles.items():
                print(f"{doc_id}\t{chunk.date.isoformat() if chunk.date else 'undated'}\t{chunk.title}")
            return 0
        if args.command == "chat":
            chat(bot, args.article)
        else:
            load(bot)
            ask(bot, args.question, [], args.article)
        return 0
    except (ValueError, RuntimeError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C while loading or answering: stop quietly, as the shell expects
        print(file=sys.stderr)
        return 130
