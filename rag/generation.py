"""Stage 7: run the local GGUF model with llama.cpp and stream its answer."""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import json
import logging
import os
import signal
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.prompting import Message
from rag.weights import check_model_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Completion:
    text: str
    first_piece: float | None  # time.perf_counter() when the first piece came; None if none did
    pieces: int


@dataclass
class OpeningOdds:
    """The model's probability of opening its answer with `tokens`, up to where its answer leaves them.

    A llama.cpp logits processor: it reads the same logits the answer is sampled from, so it
    costs no extra model call. For the refusal's tokens it measures how close the model came to
    declining: an answer it wrote while the refusal had a fair chance is often a guess.
    """

    tokens: list[int]
    # Also keep the model from opening with `tokens[0]`: a second try at a question it declined.
    forbid: bool = False
    probability: float = 1.0
    _prompt_tokens: int | None = field(default=None, repr=False)

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        if self._prompt_tokens is None:
            self._prompt_tokens = len(input_ids)
        written = [int(t) for t in input_ids[self._prompt_tokens :]]
        if len(written) < len(self.tokens) and written == self.tokens[: len(written)]:
            shifted = np.exp(scores - scores.max())
            self.probability *= float(shifted[self.tokens[len(written)]] / shifted.sum())
        if self.forbid and not written:
            scores[self.tokens[0]] = -np.inf
        return scores


@contextmanager
def ctrl_c_deferred() -> Iterator[Callable[[], None]]:
    """Within the block Ctrl-C is noted, not raised: the `deliver` it yields raises it where
    stopping is safe, and so does the block's end. llama.cpp calls back into Python, to log while
    it loads a model and to hand over each token's logits (`OpeningOdds`), and ctypes drops an
    exception raised in a callback: a Ctrl-C that landed there was lost, and the answer went on."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:  # not ours to change
        yield lambda: None
        return
    pressed: list[int] = []

    def deliver() -> None:
        if pressed:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    try:
        yield deliver
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    deliver()


class Generator:
    """One loaded model. Calls are serialised: llama.cpp's context serves one request at a time."""

    def __init__(self, model_path: Path, n_ctx: int, n_threads: int) -> None:
        check_model_file(model_path)
        from llama_cpp import Llama  # imported here: loading the shared library is not free

        try:
            with ctrl_c_deferred():  # about a second
                self.llm = Llama(
                    model_path=str(model_path),
                    n_ctx=n_ctx,
                    n_threads=n_threads,
                    n_batch=512,
                    seed=0,
                    verbose=False,
                )
        except ValueError as exc:  # llama.cpp's "Failed to load model from file"
            raise RuntimeError(f"Could not load the model {model_path}: {exc}. "
                               "Run `bash scripts/setup.sh` to fetch it again.") from exc
        # Freed before the interpreter tears down the modules its destructor needs.
        atexit.register(self.llm.close)
        self.model_path = model_path
        self.n_ctx = n_ctx
        self.lock = threading.Lock()
        # Evaluated prompt prefixes by name: their messages, and the tokens and llama.cpp state to
        # put back when a prompt starting with them follows one that doesn't (`_resume`).
        self._prefixes: dict[str, tuple[list[Message], np.ndarray, bytes]] = {}
        self._current: str | None = None  # the prefix the context now starts with

    def tokenize(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def opening_odds(self, text: str, forbid: bool = False) -> OpeningOdds:
        return OpeningOdds(self.tokenize(text), forbid)

    def prime(self, name: str, prefix: Sequence[Message], cache_dir: Path | None = None) -> None:
        """Evaluate a prompt prefix that many requests share, once, and keep its KV cache.

        llama.cpp reuses the longest common prefix of the previous prompt, so after this a
        prompt starting with `prefix` pays only for the rest. Several prefixes can be primed (the
        answering conversation, the answer check's): a prompt starting with one that is not in
        the context puts its state back first, in milliseconds. The evaluated state is saved in
        `cache_dir`: the next process loads it instead of spending seconds reading the prefix.
        """
        with self.lock:
            if name in self._prefixes:
                return
            key = self._state_key(prefix)
            saved = cache_dir / f"{self.model_path.stem}-{name}-{key}.kv" if cache_dir else None
            if saved is None or not self._load_state(saved):
                # An empty user turn after the prefix makes the chat template close the prefix's
                # last message exactly as a real question's prompt does.
                self.llm.create_chat_completion([*prefix, {"role": "user", "content": ""}], temperature=0.0,
                                                max_tokens=1)
                if saved is not None:
                    self._save_state(saved, stale=f"{self.model_path.stem}-{name}-*.kv")
            self._prefixes[name] = (list(prefix), *self._capture())
            self._current = name

    def _resume(self, messages: Sequence[Message]) -> None:
        """Put back the state of the primed prefix `messages` start with, unless the context
        already starts with it; the context then serves the prompt's other tokens only."""
        name = next((n for n, (prefix, _, _) in self._prefixes.items() if list(messages[: len(prefix)]) == prefix),
                    None)
        if name is not None and name != self._current and not self._restore(*self._prefixes[name][1:]):
            name = None
        self._current = name

    def _state_key(self, prefix: Sequence[Message]) -> str:
        """Changes whenever the saved state would differ: other model file, prefix, context or llama.cpp."""
        import llama_cpp

        stat = self.model_path.stat()
        what = [list(prefix), str(self.model_path), stat.st_size, stat.st_mtime_ns, self.n_ctx,
                llama_cpp.__version__]
        return hashlib.sha256(json.dumps(what).encode()).hexdigest()[:16]

    def _capture(self) -> tuple[np.ndarray, bytes]:
        """The context's tokens and llama.cpp's state bytes (its KV cache), to put back later."""
        import llama_cpp

        size = llama_cpp.llama_state_get_size(self.llm.ctx)
        state = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_get_data(self.llm.ctx, state, size)
        return np.array(self.llm.input_ids[: self.llm.n_tokens], dtype=np.int32), bytes(state)[:written]  # a copy

    def _restore(self, tokens: np.ndarray, state: bytes) -> bool:
        """Put back what `_capture` took; False (and a clean context) if it doesn't fit this model."""
        import llama_cpp

        buffer = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
        if len(tokens) > self.n_ctx or llama_cpp.llama_state_set_data(self.llm.ctx, buffer, len(state)) != len(state):
            self.llm.reset()  # the next evaluation starts from position 0 and clears the cache
            return False
        self.llm.input_ids[: len(tokens)] = tokens
        self.llm.n_tokens = len(tokens)
        return True

    def _save_state(self, path: Path, stale: str) -> None:
        """File layout: sha256 of the rest, token count, the tokens, llama.cpp's state bytes.
        Files matching the `stale` pattern (an older version of the prefix) are removed."""
        tokens, state = self._capture()
        body = struct.pack("<I", len(tokens)) + tokens.tobytes() + state
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(hashlib.sha256(body).digest() + body)
            os.replace(tmp, path)
            for older in path.parent.glob(stale):
                if older != path:
                    older.unlink(missing_ok=True)
        except OSError as exc:  # a read-only checkout still works, only slower to start
            tmp.unlink(missing_ok=True)
            log.warning("Could not save the model's prefix state to %s: %s", path, exc)

    def _load_state(self, path: Path) -> bool:
        """Restore a state `_save_state` wrote; False (and a clean context) if it can't be used."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return False
        except OSError as exc:
            log.warning("Could not read %s (%s); evaluating the prompt prefix instead.", path, exc)
            return False
        body = data[32:]
        if len(data) < 36 or hashlib.sha256(body).digest() != data[:32]:
            log.warning("%s is damaged; evaluating the prompt prefix instead.", path)
            return False
        (n,) = struct.unpack_from("<I", body)
        if not self._restore(np.frombuffer(body, dtype=np.int32, count=n, offset=4), body[4 + 4 * n :]):
            log.warning("%s does not fit this model; evaluating the prompt prefix instead.", path)
            return False
        return True

    def stream(
        self, messages: Sequence[Message], max_tokens: int, odds: OpeningOdds | None = None
    ) -> Iterator[str]:
        """Yield the answer's text piece by piece; greedy decoding, so answers are repeatable."""
        from llama_cpp import LogitsProcessorList

        processors = LogitsProcessorList([odds]) if odds else None
        with self.lock, ctrl_c_deferred() as deliver_ctrl_c:
            self._resume(messages)
            for part in self.llm.create_chat_completion(
                list(messages), temperature=0.0, max_tokens=max_tokens, stream=True,
                logits_processor=processors,
            ):
                deliver_ctrl_c()  # between tokens, not inside llama.cpp's call for the next one
                delta = part["choices"][0]["delta"].get("content")
                if delta:
                    yield delta

    def complete(
        self, messages: Sequence[Message], max_tokens: int, odds: OpeningOdds | None = None
    ) -> Completion:
        """The whole answer at once, with when its first piece came."""
        text, first_piece, pieces = "", None, 0
        for piece in self.stream(messages, max_tokens, odds):
            first_piece = first_piece or time.perf_counter()
            text += piece
            pieces += 1
        return Completion(text, first_piece, pieces)

    def yes_share(self, messages: Sequence[Message]) -> float:
        """P("Yes") / (P("Yes") + P("No")) for the reply's first token: above 0.5 the model leans
        to yes."""
        from llama_cpp import LogitsProcessorList

        yes, no = self.opening_odds("Yes"), self.opening_odds("No")
        with self.lock, ctrl_c_deferred():
            self._resume(messages)
            self.llm.create_chat_completion(list(messages), temperature=0.0, max_tokens=1,
                                            logits_processor=LogitsProcessorList([yes, no]))
        either = yes.probability + no.probability
        return yes.probability / either if either > 0 else 0.5


@lru_cache(maxsize=2)
def load_generator(model_path: Path, n_ctx: int, n_threads: int) -> Generator:
    """The model for this path, loaded once per process and shared by every corpus."""
    return Generator(model_path.resolve(), n_ctx, n_threads)
