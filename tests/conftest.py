from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_c76fe11a0031424c.txt"


@pytest.fixture
def seed_corpus(tmp_path: Path) -> Path:
    """A corpus folder holding a copy of the seed article."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus / SEED.name)
    return corpus


@pytest.fixture(scope="session")
def seed_bot():
    """The default model over the seed article, loaded once for all model tests."""
    from rag import RAG

    return RAG(corpus_dir=ROOT / "seeds")
