"""Stage 7: run the local GGUF model with llama.cpp and stream its answer."""

from __future__ import annotations

import atexit
import threading
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path

from rag.prompting import Message
from rag.weights import check_model_file


class Generator:
    """One loaded model. Calls are serialised: llama.cpp's context serves one request at a time."""

    def __init__(self, model_path: Path, n_ctx: int, n_threads: int) -> None:
        check_model_file(model_path)
        from llama_cpp import Llama  # imported here: loading the shared library is not free

        try:
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
        self.n_ctx = n_ctx
        self.lock = threading.Lock()
        self.primed = False

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def prime(self, prefix: Sequence[Message]) -> None:
        """Evaluate a prompt prefix every request shares, once, so its KV cache is ready.

        llama.cpp reuses the longest common prefix of the previous prompt, so after this the
        first real question pays only for its own passages and question.
        """
        with self.lock:
            if not self.primed:
                self.llm.create_chat_completion(list(prefix), temperature=0.0, max_tokens=1)
                self.primed = True

    def stream(self, messages: Sequence[Message], max_tokens: int) -> Iterator[str]:
        """Yield the answer's text piece by piece; greedy decoding, so answers are repeatable."""
        with self.lock:
            for part in self.llm.create_chat_completion(
                list(messages), temperature=0.0, max_tokens=max_tokens, stream=True
            ):
                delta = part["choices"][0]["delta"].get("content")
                if delta:
                    yield delta


@lru_cache(maxsize=2)
def load_generator(model_path: Path, n_ctx: int, n_threads: int) -> Generator:
    """The model for this path, loaded once per process and shared by every corpus."""
    return Generator(model_path.resolve(), n_ctx, n_threads)
