"""Bad input without the model: uploads, corpus edge cases, model files, locks."""

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag import RAG, Settings, weights
from rag.articles import MAX_UPLOAD_BYTES, add_article, load_articles
from rag.generation import ctrl_c_deferred
from tests.conftest import ROOT


def test_upload_names_cannot_escape_or_overwrite(tmp_path):
    corpus = tmp_path / "corpus"
    first = add_article(corpus, "../../x.txt", b"First article.")
    assert first == corpus / "x.txt"
    second = add_article(corpus, "x.txt", b"Second article.")
    assert second == corpus / "x-2.txt" and first.read_text() == "First article."
    long = add_article(corpus, "a" * 500 + ".md", b"# Long\n\nName.")
    assert long.parent == corpus and len(long.name) <= 90
    assert not list(tmp_path.glob("*.txt")) and not list(corpus.glob(".*"))


@pytest.mark.parametrize("name, data, message", [
    ("x.pdf", b"%PDF-1.4", "Only .txt and .md"),
    ("x.txt", b"\x89PNG\x00\x00\x01", "binary"),
    ("x.txt", "caf\xe9".encode("latin-1"), "UTF-8"),
    ("x.txt", b"   \n", "empty"),
    ("x.txt", b" date 2025-01-01 \n", "empty"),
    ("x.txt", b"a" * (MAX_UPLOAD_BYTES + 1), "limit"),
])
def test_bad_uploads_are_refused_and_change_nothing(tmp_path, name, data, message):
    with pytest.raises(ValueError, match=message):
        add_article(tmp_path, name, data)
    assert list(tmp_path.iterdir()) == []


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=300))
def test_any_upload_name_lands_inside_the_corpus(tmp_path_factory, name):
    corpus = tmp_path_factory.mktemp("c")
    try:
        path = add_article(corpus, name + ".txt", b"Some text.")
    except ValueError:
        return
    assert path.parent == corpus and path.read_bytes() == b"Some text."


@given(st.binary(max_size=2000))
@settings(max_examples=100, deadline=None)
def test_loader_never_raises_on_arbitrary_bytes(tmp_path_factory, data):
    corpus = tmp_path_factory.mktemp("c")
    (corpus / "a.txt").write_bytes(data)
    (corpus / "b.jsonl").write_bytes(data)
    for article in load_articles(corpus):
        assert article.text.strip()


def test_an_oversized_article_is_skipped_with_advice(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr("rag.articles.MAX_ARTICLE_BYTES", 1000)
    (tmp_path / "huge.txt").write_text("word " * 1000)
    assert load_articles(tmp_path) == []
    assert "huge.txt" in caplog.text and ".jsonl" in caplog.text


def test_no_articles_gives_a_clear_error(tmp_path):
    (tmp_path / "c").mkdir()
    bot = RAG(corpus_dir=tmp_path / "c", index_dir=tmp_path / "i", model_path=tmp_path / "none.gguf")
    with pytest.raises(RuntimeError, match="No articles"):
        bot.answer("Anything?")
    with pytest.raises(ValueError, match="type a question"):
        bot.answer("   ")


def test_bad_settings_are_refused_by_name(tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_TOP_K", "three")
    with pytest.raises(ValueError, match="RAG_TOP_K must be a whole number, not 'three'"):
        Settings()
    monkeypatch.delenv("RAG_TOP_K")
    with pytest.raises(ValueError, match=r"top_k \(RAG_TOP_K or --top-k\) must be at least 1, not 0; min_confirmation "
                                         r"\(RAG_MIN_CONFIRMATION\) must be between 0 and 1, not 1.5"):
        Settings(top_k=0, min_confirmation=1.5)
    bot = RAG(corpus_dir=tmp_path, index_dir=tmp_path / "i", model_path=tmp_path / "none.gguf")
    with pytest.raises(ValueError, match="top_k"):  # it would have taken every candidate passage
        bot.answer("Who?", top_k=-1)
    # The command line says so in one line, without a traceback.
    result = subprocess.run([sys.executable, "-m", "rag", "list", "--corpus", str(tmp_path)], cwd=ROOT,
                            env={**os.environ, "RAG_MIN_CONFIRMATION": "high"}, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr == "error: RAG_MIN_CONFIRMATION must be a number, not 'high'.\n"


def test_missing_truncated_or_wrong_model_files_name_the_file_and_the_fix(tmp_path, monkeypatch):
    missing = tmp_path / "none.gguf"
    with pytest.raises(weights.ModelFileError, match=r"none\.gguf.*scripts/setup\.sh"):
        weights.check_model_file(missing)
    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_bytes(b"hello")
    with pytest.raises(weights.ModelFileError, match="not a GGUF"):
        weights.check_model_file(not_gguf)
    monkeypatch.setattr(weights, "MODELS_DIR", tmp_path)
    spec = weights.MODELS["default"]
    spec.path.write_bytes(b"GGUF" + b"\0" * 100)
    with pytest.raises(weights.ModelFileError, match="truncated"):
        weights.check_model_file(spec.path)
    bogus = weights.ModelSpec("t", "t.gguf", "p", "0", 1, 104, "0" * 64)
    monkeypatch.setitem(weights.MODELS, "t", bogus)
    bogus.path.write_bytes(b"GGUF" + b"\0" * 100)
    weights.check_model_file(bogus.path)  # the quick check passes
    with pytest.raises(weights.ModelFileError, match="sha256"):
        weights.check_model_file(bogus.path, full=True)


def test_two_processes_ingesting_one_index_keep_it_consistent(tmp_path, seed_corpus):
    for i in range(5):
        (seed_corpus / f"extra{i}.txt").write_text(f"Extra article number {i} about orchards. " * 20)
    code = ("import sys; from pathlib import Path; from rag.index import sync; "
            "idx, _ = sync(Path(sys.argv[1]), Path(sys.argv[2]), max_chars=400, overlap=1, progress=False); "
            "print(len(idx.chunks))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(seed_corpus), str(tmp_path / "i")],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    counts = [int(p.communicate(timeout=300)[0]) for p in procs]
    assert counts[0] == counts[1] > 0
    from rag.index import load

    index = load(tmp_path / "i")
    assert len(index.chunks) == counts[0] == index.vectors.ntotal
    assert len({c.chunk_id for c in index.chunks}) == len(index.chunks)  # nobody added twice
    assert not list(Path(tmp_path / "i").glob("chunks-*.jsonl"))[1:]  # one generation left


def test_kill_9_during_ingest_leaves_a_usable_index(tmp_path, seed_corpus):
    from rag.index import load, sync

    sync(seed_corpus, tmp_path / "i", max_chars=300, overlap=1, progress=False)
    before = len(load(tmp_path / "i").chunks)
    for i in range(150):
        (seed_corpus / f"extra{i:03d}.txt").write_text(f"Report {i} on the orchards of Vale {i}. " * 30)
    code = ("import sys; from pathlib import Path; from rag.index import sync; "
            "sync(Path(sys.argv[1]), Path(sys.argv[2]), max_chars=300, overlap=1, progress=False)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(seed_corpus), str(tmp_path / "i")], cwd=ROOT)
    time.sleep(8)  # imports, the model and part of the embedding
    proc.kill()
    proc.wait()
    assert len(load(tmp_path / "i").chunks) >= before  # the killed run left a loadable index
    index, report = sync(seed_corpus, tmp_path / "i", max_chars=300, overlap=1, progress=False)
    assert {c.doc_id for c in index.chunks} == {p.name for p in seed_corpus.iterdir()}
    assert index.vectors.ntotal == len(index.chunks)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the dropped KeyboardInterrupt
def test_ctrl_c_while_llama_cpp_calls_back_into_python_is_not_lost():
    # llama.cpp calls back into Python (to log while it loads a model, to hand over each token's
    # logits), and ctypes drops an exception raised in a callback: here C's qsort calls back.
    libc = ctypes.CDLL(None)
    compare = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))

    def ctrl_c_while_calling_back() -> None:
        pressed = []

        def by_value(a, b) -> int:
            if not pressed:
                pressed.append(signal.raise_signal(signal.SIGINT))
            return a[0] - b[0]

        values = (ctypes.c_int * 3)(3, 1, 2)
        libc.qsort(values, 3, ctypes.sizeof(ctypes.c_int), compare(by_value))

    ctrl_c_while_calling_back()  # the Ctrl-C is lost: no KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt), ctrl_c_deferred():
        ctrl_c_while_calling_back()  # ... but not when deferred until the call is over
    with pytest.raises(KeyboardInterrupt), ctrl_c_deferred() as deliver:
        ctrl_c_while_calling_back()
        deliver()  # or to where it is delivered
        raise AssertionError("not reached")
