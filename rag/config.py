"""All settings in one place: defaults, overridable by environment variables or CLI flags."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from rag.weights import MODELS

ROOT = Path(__file__).resolve().parent.parent
Number = TypeVar("Number", int, float)


def _env_path(name: str, default: Path | None) -> Path | None:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else default


def _env_number(name: str, default: Number, kind: type[Number]) -> Number:
    value = os.environ.get(name)
    try:
        return kind(value) if value else default
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise ValueError(f"{name} must be {what}, not {value!r}.") from None


def default_index_dir(corpus_dir: Path) -> Path:
    """One index folder per corpus, so that two corpora never share (and rebuild) one index."""
    key = hashlib.sha1(str(corpus_dir.resolve()).encode()).hexdigest()[:10]
    return ROOT / ".rag-index" / f"{corpus_dir.resolve().name}-{key}"


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = field(default_factory=lambda: _env_path("RAG_CORPUS_DIR", ROOT / "seeds"))
    index_dir: Path | None = field(default_factory=lambda: _env_path("RAG_INDEX_DIR", None))
    model_path: Path = field(default_factory=lambda: _env_path("RAG_MODEL_PATH", MODELS["default"].path))
    top_k: int = field(default_factory=lambda: _env_number("RAG_TOP_K", 3, int))
    # Retrieval units of one to three sentences, searched under their article's title. Of 400,
    # 300, 250 and 200 characters, 250 did best over both question sets and reads the fewest
    # prompt tokens but for 200, which loses too much context (eval/HISTORY.md).
    chunk_chars: int = field(default_factory=lambda: _env_number("RAG_CHUNK_CHARS", 250, int))
    chunk_overlap_sentences: int = 1
    # Generation. The model's evaluated prompt prefix is saved here, to start faster next time.
    cache_dir: Path = field(default_factory=lambda: _env_path("RAG_CACHE_DIR", ROOT / ".rag-cache"))
    n_ctx: int = field(default_factory=lambda: _env_number("RAG_N_CTX", 4096, int))
    n_threads: int = field(default_factory=lambda: _env_number("RAG_THREADS", os.cpu_count() or 2, int))
    max_answer_tokens: int = 96
    # An answer is hesitant when the model gave the refusal at least this probability as its
    # opening (OpeningOdds) and its passages miss some of the question's words (checks.py): it
    # needs hesitant_confirmation below. eval/HISTORY.md has what 0.1 bought; 1.0 turns it off.
    refusal_doubt: float = field(default_factory=lambda: _env_number("RAG_REFUSAL_DOUBT", 0.1, float))
    # The answer that survives the checks is read back to the model, apart from the conversation
    # it was written in: "Does the passage say this is the answer to exactly this question?"
    # (`prompting.build_check_messages`). Below this share of "Yes" against "No" it is declined;
    # 0 turns the check off (eval/HISTORY.md).
    min_confirmation: float = field(default_factory=lambda: _env_number("RAG_MIN_CONFIRMATION", 0.7, float))
    # ... and, for an answer the model hesitated over (refusal_doubt) from passages that are a near
    # miss, or gave only at its second try, or to a question for a figure ("how many", "how long")
    # or a reason ("why"; `checks.needs_clear_yes`), the share it needs instead: clearly yes. With the
    # check off such answers are declined. Both were read off the five question sets (eval/HISTORY.md).
    hesitant_confirmation: float = field(default_factory=lambda: _env_number("RAG_HESITANT_CONFIRMATION", 0.8, float))
    # A refusal the model gave with less than this probability (OpeningOdds) is tried again with
    # the refusal forbidden; that answer needs hesitant_confirmation. 0 turns it off.
    second_try_below: float = field(default_factory=lambda: _env_number("RAG_SECOND_TRY_BELOW", 0.2, float))
    # The model writes the sentence a news article might answer the question with, inventing the
    # details, and the question is searched together with it, so that a passage in other words
    # than the question's is found (eval/HISTORY.md). At most this many tokens (about 0.7 s
    # of writing); 0 searches the question alone.
    search_sentence_tokens: int = field(default_factory=lambda: _env_number("RAG_SEARCH_SENTENCE_TOKENS", 48, int))
    max_question_chars: int = 2000
    history_turns: int = 2  # earlier question/answer pairs shown to the model
    listed_articles: int = 5  # "Which articles mention a strike?": the latest this many, cited, and a count of the rest

    def __post_init__(self) -> None:
        # Paths may come in as strings from callers.
        object.__setattr__(self, "corpus_dir", Path(self.corpus_dir))
        object.__setattr__(self, "model_path", Path(self.model_path))
        object.__setattr__(self, "cache_dir", Path(self.cache_dir))
        if self.index_dir is not None:
            object.__setattr__(self, "index_dir", Path(self.index_dir))
        # A bad value is refused here, by name, rather than failing somewhere down the pipeline:
        # a top_k below 1 would have taken every candidate passage.
        problems = [f"{name} ({env}) must be at least {low}, not {value}" for name, env, value, low in (
            ("top_k", "RAG_TOP_K or --top-k", self.top_k, 1),
            ("chunk_chars", "RAG_CHUNK_CHARS", self.chunk_chars, 50),
            ("n_ctx", "RAG_N_CTX", self.n_ctx, 2048),  # the cached prefixes alone take about 900 tokens
            ("n_threads", "RAG_THREADS", self.n_threads, 1),
            ("search_sentence_tokens", "RAG_SEARCH_SENTENCE_TOKENS", self.search_sentence_tokens, 0),
        ) if value < low]
        problems += [f"{name} ({env}) must be between 0 and 1, not {value}" for name, env, value in (
            ("refusal_doubt", "RAG_REFUSAL_DOUBT", self.refusal_doubt),
            ("min_confirmation", "RAG_MIN_CONFIRMATION", self.min_confirmation),
            ("hesitant_confirmation", "RAG_HESITANT_CONFIRMATION", self.hesitant_confirmation),
            ("second_try_below", "RAG_SECOND_TRY_BELOW", self.second_try_below),
        ) if not 0 <= value <= 1]
        if problems:
            raise ValueError("Invalid settings: " + "; ".join(problems) + ".")

    @property
    def index_path(self) -> Path:
        """The index folder: RAG_INDEX_DIR if set, else one derived from the corpus folder."""
        return self.index_dir or default_index_dir(self.corpus_dir)

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields changed; None values keep the current one (handy for CLI flags)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
