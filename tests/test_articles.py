import datetime as dt
import json
import logging
from pathlib import Path

from rag.articles import derive_title, load_articles, split_dateline
from tests.conftest import SEED


def test_dateline_becomes_date_and_leaves_the_text():
    date, text = split_dateline(SEED.read_text())
    assert date == dt.date(2025, 5, 19)
    assert text.startswith("US President Donald Trump will hold")
    assert "date 2025" not in text


def test_article_without_dateline_is_undated():
    assert split_dateline("Plain text.\n") == (None, "Plain text.\n")
    assert split_dateline(" date 2025-13-40 Bad date.") == (None, " date 2025-13-40 Bad date.")


def test_title_is_a_short_headline_or_the_first_sentence():
    assert derive_title("Storm hits coast\n\nWinds of 100 km/h.", "x") == "Storm hits coast"
    long = "A " + "very " * 30 + "long first sentence. Second."
    assert derive_title(long, "x").endswith("…")
    assert derive_title("   ", "fallback") == "fallback"


def test_bad_files_are_skipped_with_a_warning_naming_them(tmp_path: Path, caplog):
    (tmp_path / "good.txt").write_text(" date 2025-01-02 Good article.")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "deep.md").write_text("# Deep\n\nNested article.")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02PNG")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "dateline_only.txt").write_text(" date 2025-01-02 \n")
    (tmp_path / "ignored.pdf").write_bytes(b"%PDF")
    with caplog.at_level(logging.WARNING):
        articles = load_articles(tmp_path)
    assert sorted(a.doc_id for a in articles) == ["good.txt", "nested/deep.md"]
    for name in ("binary.txt", "latin1.txt", "empty.txt", "dateline_only.txt"):
        assert name in caplog.text
    assert "ignored.pdf" not in caplog.text


def test_jsonl_holds_one_article_per_line(tmp_path: Path, caplog):
    lines = [
        {"title": "One", "date": "2024-03-01", "text": "First body.", "url": "http://x/1"},
        {"title": "Two", "body": "Second body."},
        {"title": "Empty"},
    ]
    (tmp_path / "many.jsonl").write_text("\n".join(map(json.dumps, lines)) + "\nnot json\n")
    with caplog.at_level(logging.WARNING):
        articles = load_articles(tmp_path)
    assert [(a.doc_id, a.title, a.date, a.text) for a in articles] == [
        ("many.jsonl:1", "One", dt.date(2024, 3, 1), "First body."),
        ("many.jsonl:2", "Two", None, "Second body."),
    ]
    assert articles[0].url == "http://x/1"
    # one warning for the file, naming its bad lines and why
    assert [r.getMessage() for r in caplog.records] == [
        "Skipping 2 lines of many.jsonl: line 3 (no text), line 4 (not a JSON object)"]
