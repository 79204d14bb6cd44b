import json
from pathlib import Path

import numpy as np
import pytest

from rag import embedding
from rag import index as store

SYNC = {"max_chars": 400, "overlap": 1, "progress": False}


@pytest.fixture
def embedded(monkeypatch) -> list[str]:
    """Records every text sent to the (real) embedding model."""
    seen: list[str] = []
    real = embedding.embed

    def spy(texts, batch_size=64):
        seen.extend(texts)
        return real(texts, batch_size)

    monkeypatch.setattr(embedding, "embed", spy)
    return seen


def _write(corpus: Path, name: str, text: str) -> None:
    (corpus / name).write_text(text)


def test_adding_editing_removing_embeds_only_what_changed(tmp_path, embedded):
    corpus, index_dir = tmp_path / "c", tmp_path / "i"
    corpus.mkdir()
    _write(corpus, "a.txt", "Alpha council approved the bridge. It costs 5 million.")
    _write(corpus, "b.txt", "Beta club won the cup final 2-1.")
    index, report = store.sync(corpus, index_dir, **SYNC)
    assert sorted(report.added) == ["a.txt", "b.txt"] and len(index.chunks) == 2

    embedded.clear()
    index, report = store.sync(corpus, index_dir, **SYNC)
    assert not report.touched and embedded == []

    _write(corpus, "b.txt", "Beta club lost the cup final 0-3.")
    _write(corpus, "c.txt", "Gamma farmers expect a record harvest.")
    index, report = store.sync(corpus, index_dir, **SYNC)
    assert report.changed == ["b.txt"] and report.added == ["c.txt"]
    assert sorted(embedded) == sorted(c.indexed_text for c in index.chunks if c.doc_id != "a.txt")
    assert any(text.endswith("\nGamma farmers expect a record harvest.") for text in embedded)

    (corpus / "a.txt").unlink()
    embedded.clear()
    index, report = store.sync(corpus, index_dir, **SYNC)
    assert report.removed == ["a.txt"] and embedded == []
    assert sorted(c.doc_id for c in index.chunks) == ["b.txt", "c.txt"]
    # the kept vectors still belong to their chunks
    for i, chunk in enumerate(index.chunks):
        assert float(index.vectors.reconstruct(i) @ embedding.embed([chunk.indexed_text])[0]) > 0.99
    best, _ = index.search(embedding.embed_query("harvest of the farmers"), 1)[0]
    assert index.chunks[best].doc_id == "c.txt"


def test_index_made_with_another_embedding_model_is_rebuilt(seed_corpus, tmp_path):
    index_dir = tmp_path / "i"
    store.sync(seed_corpus, index_dir, **SYNC)
    manifest = json.loads((index_dir / store.MANIFEST).read_text())
    manifest["embedding_model"] = "some-other-model"
    (index_dir / store.MANIFEST).write_text(json.dumps(manifest))
    index, report = store.sync(seed_corpus, index_dir, **SYNC)
    assert report.rebuilt_because and report.added == ["000_c76fe11a0031424c.txt"]
    assert store.load(index_dir).manifest.embedding_model == embedding.MODEL_NAME


@pytest.mark.parametrize("damage", ["delete_vectors", "truncate_vectors", "garbage_chunks", "garbage_manifest"])
def test_damaged_index_is_detected_and_rebuilt(seed_corpus, tmp_path, damage):
    index_dir = tmp_path / "i"
    first, _ = store.sync(seed_corpus, index_dir, **SYNC)
    gen = first.manifest.generation
    chunks, vectors = index_dir / f"chunks-{gen}.jsonl", index_dir / f"vectors-{gen}.faiss"
    if damage == "delete_vectors":
        vectors.unlink()
    elif damage == "truncate_vectors":
        vectors.write_bytes(vectors.read_bytes()[:1000])
    elif damage == "garbage_chunks":
        chunks.write_text("{not json\n")
    else:
        (index_dir / store.MANIFEST).write_text("\x00\x01")
    with pytest.raises(store.UnusableIndexError):
        store.load(index_dir)
    index, report = store.sync(seed_corpus, index_dir, **SYNC)
    assert report.rebuilt_because
    assert [c.text for c in index.chunks] == [c.text for c in first.chunks]
    assert (seed_corpus / "000_c76fe11a0031424c.txt").exists()  # the corpus is never touched


def test_a_write_that_dies_before_the_manifest_leaves_the_previous_index(seed_corpus, tmp_path, monkeypatch):
    index_dir = tmp_path / "i"
    first, _ = store.sync(seed_corpus, index_dir, **SYNC)
    (seed_corpus / "new.txt").write_text("A new article about tulips in Lisse.")

    def crash(*args):
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(store.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        store.sync(seed_corpus, index_dir, **SYNC)
    monkeypatch.undo()
    still = store.load(index_dir)
    assert still.manifest.generation == first.manifest.generation
    assert len(still.chunks) == len(first.chunks)
    index, report = store.sync(seed_corpus, index_dir, **SYNC)
    assert report.added == ["new.txt"] and any("tulips" in c.text for c in index.chunks)


def test_names_are_the_words_only_ever_written_with_a_capital(seed_corpus, tmp_path):
    index = store.sync(seed_corpus, tmp_path / "index", **SYNC)[0]
    assert index.names["umerov"] == "Umerov" and index.names["nato"] == "NATO" and index.names["keir"] == "Keir"
    # "Both sides traded insults": a sentence's first word is no name; "however" is written in lower case too
    assert "both" not in index.names and "however" not in index.names and "talks" not in index.names
    # a question typed in lower case gets them back; one typed with capitals stays as typed
    assert index.truecased("who is keir starmer") == "who is Keir Starmer"
    assert index.truecased("what did nato say about starmer's plan?") == "what did NATO say about Starmer's plan?"
    assert index.truecased("Who is keir starmer") == "Who is keir starmer"
    # the people are the names the articles give a title or a role: not "Ukraine" nor "NATO"
    assert index.people == {"leo", "putin", "starmer", "trump", "umerov", "vance", "zelensky"}
    # each by the fullest name the article gives them, in the order it first names them
    people = index.people_of(index.doc_ids[0])
    assert [name for name, _ in people][:3] == ["Donald Trump", "Vladimir Putin", "Volodymyr Zelensky"]
    assert people[1][1].start == 0 and "Vladimir Putin" in people[1][1].text  # "President Putin" later


def test_empty_corpus_gives_an_empty_index(tmp_path):
    (tmp_path / "c").mkdir()
    index, _ = store.sync(tmp_path / "c", tmp_path / "i", **SYNC)
    assert index.chunks == [] and index.search(np.ones(384, dtype=np.float32), 3) == []


def test_unreadable_articles_are_reported_as_skipped_until_mended(tmp_path):
    corpus, index_dir = tmp_path / "c", tmp_path / "i"
    corpus.mkdir()
    _write(corpus, "a.txt", "Alpha council approved the bridge.")
    _write(corpus, "empty.txt", "   \n")
    (corpus / "x.txt").write_bytes(b"\x89PNG\x00\x00\x01")
    index, report = store.sync(corpus, index_dir, **SYNC)
    assert report.skipped == ["empty.txt", "x.txt"] and {c.doc_id for c in index.chunks} == {"a.txt"}
    _, report = store.sync(corpus, index_dir, **SYNC)
    assert not report.touched and report.skipped == []  # warned once, not at every question
    _write(corpus, "empty.txt", "Beta club won the cup final.")
    index, report = store.sync(corpus, index_dir, **SYNC)
    assert report.changed == ["empty.txt"] and report.skipped == []
    assert {c.doc_id for c in index.chunks} == {"a.txt", "empty.txt"}


def test_large_corpora_get_an_hnsw_index_that_finds_the_same_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "HNSW_MIN_CHUNKS", 10)
    corpus = tmp_path / "c"
    corpus.mkdir()
    for i in range(30):
        _write(corpus, f"{i:02d}.txt", f"Town number {i} elected mayor {['Ann', 'Bo', 'Cy'][i % 3]} {i}. " * 3)
    index, _ = store.sync(corpus, tmp_path / "i", **SYNC)
    assert not isinstance(index.vectors, store.faiss.IndexFlat)
    reloaded = store.load(tmp_path / "i")
    exact = store.exact_copy(reloaded.vectors)
    query = embedding.embed_query("Who was elected mayor of town number 17?")
    assert {i for i, _ in reloaded.search(query, 5)} == set(exact.search(query.reshape(1, -1), 5)[1][0].tolist())
    [(position, _)] = reloaded.search(query, 1, within=reloaded.positions(["03.txt"]))
    assert reloaded.chunks[position].doc_id == "03.txt"  # narrowed search works on the graph too


def test_duplicate_articles_give_distinct_passages(tmp_path):
    from rag.retrieval import Retriever

    corpus = tmp_path / "c"
    corpus.mkdir()
    for name in ("a.txt", "copy-of-a.txt"):
        _write(corpus, name, "The Elmfield dam will be finished in 2027. It holds 40 million litres.")
    _write(corpus, "b.txt", "Elmfield's school gets a new roof.")
    index, _ = store.sync(corpus, tmp_path / "i", **SYNC)
    passages = Retriever(index).retrieve("When will the Elmfield dam be finished?", 3)
    assert len({p.chunk.text for p in passages}) == len(passages) == 2
    assert [p.n for p in passages] == [1, 2]


def test_a_bot_sees_articles_added_edited_and_deleted_between_questions(tmp_path):
    from rag import RAG

    corpus = tmp_path / "c"
    corpus.mkdir()
    _write(corpus, "a.txt", "The Elmfield dam will be finished in 2027.")
    bot = RAG(corpus_dir=corpus, index_dir=tmp_path / "i")
    bot.refresh(progress=False)
    first = bot.index
    assert bot.refresh(progress=False).touched is False and bot.index is first  # no reload when unchanged
    _write(corpus, "b.txt", "Ravenby opened a ferry terminal.")
    (corpus / "a.txt").unlink()
    report = bot.refresh(progress=False)
    assert report.added == ["b.txt"] and report.removed == ["a.txt"]
    assert [c.doc_id for c in bot.index.chunks] == ["b.txt"]


def test_a_chunk_is_found_by_its_article_title(tmp_path):
    from rag.retrieval import Retriever

    corpus = tmp_path / "c"
    corpus.mkdir()
    for place, staff in (("Stonemoor", 84), ("Renworth", 12)):
        _write(corpus, f"{place}.txt", f"{place} General Hospital opens a maternity unit\n\n"
                                       f"Patients were shown around at an open day.\n\n"
                                       f"The hospital has recruited {staff} extra staff to run it.")
    index, _ = store.sync(corpus, tmp_path / "i", max_chars=60, overlap=0, progress=False)
    # the staff sentence names no hospital: only the title tells the two apart
    [passage] = Retriever(index).retrieve("How many extra staff did Stonemoor General Hospital recruit?", 1)
    assert passage.chunk.doc_id == "Stonemoor.txt" and "84 extra staff" in passage.chunk.text


def test_a_search_can_be_narrowed_to_chosen_articles(tmp_path):
    from rag.retrieval import Retriever

    corpus = tmp_path / "c"
    corpus.mkdir()
    _write(corpus, "talks.txt", "Peace talks in Istanbul\n\nUkraine and Russia met in Istanbul for talks on Friday.")
    _write(corpus, "recap.txt", "Talks recap\n\nThe Istanbul talks between Russia and Ukraine ended within two hours.")
    _write(corpus, "pool.txt", "Pool closes\n\nHollinford's only swimming pool will close in September.")
    index, _ = store.sync(corpus, tmp_path / "i", **SYNC)
    retriever = Retriever(index)
    question = "Where did Russia and Ukraine hold talks?"
    assert {p.chunk.doc_id for p in retriever.retrieve(question, 2)} == {"talks.txt", "recap.txt"}
    # narrowed, only the chosen article's passages come back, the best first, even a poor match
    assert [p.chunk.doc_id for p in retriever.retrieve(question, 2, articles=["recap.txt"])] == ["recap.txt"]
    assert [p.chunk.doc_id for p in retriever.retrieve(question, 2, articles=["pool.txt"])] == ["pool.txt"]
    with pytest.raises(ValueError, match="No article 'tlaks.txt' in the corpus"):
        retriever.retrieve(question, 2, articles=["tlaks.txt"])


def test_a_passage_of_the_answers_form_is_brought_up(tmp_path):
    from rag.checks import answer_form
    from rag.retrieval import Retriever

    corpus = tmp_path / "c"
    corpus.mkdir()
    _write(corpus, "bridge.txt", "Crowds crossed the new Harlow bridge on its opening day.\n\n"
                                 "Officials counted 12,000 of them.\n\nThe bridge is painted blue.")
    index, _ = store.sync(corpus, tmp_path / "i", max_chars=60, overlap=0, progress=False)
    question = "How many people crossed the Harlow bridge on its opening day?"
    [best] = Retriever(index).retrieve(question, 1)
    [counted] = Retriever(index).retrieve(question, 1, answer_form(question))
    assert "opening day" in best.chunk.text and "12,000" in counted.chunk.text


def test_the_answers_form_is_a_number_or_a_date_when_asked_for():
    from rag.checks import answer_form

    count, date = answer_form("Roughly how many people came?"), answer_form("On what date did it open?")
    assert count("Officials counted 12,000.") and count("Three people came.") and not count("Crowds came.")
    assert date("It opened on Monday.") and date("It opened in March 2024.") and not date("It opened.")
    assert answer_form("Who opened it?") is None
    assert answer_form("What was the score when they met?") is None


def test_an_article_text_is_its_title_and_chunks(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    _write(corpus, "a.txt", "Dam opens\n\nThe Elmfield dam opened. " + "It holds water. " * 40)
    _write(corpus, "b.txt", "Ravenby opened a ferry terminal.")
    index, _ = store.sync(corpus, tmp_path / "i", **SYNC)
    text = index.article_text("a.txt")
    assert text.startswith("Dam opens\n") and "Elmfield" in text and "Ravenby" not in text
    assert index.article_text("missing.txt") == ""


def test_a_question_naming_what_no_article_mentions_is_declined_without_the_model(tmp_path, monkeypatch):
    from rag import RAG

    corpus = tmp_path / "c"
    corpus.mkdir()
    _write(corpus, "quake.txt", "Earthquake in Selby\n\nAn earthquake near Selby forced 300 people from their homes.")
    bot = RAG(corpus_dir=corpus, index_dir=tmp_path / "i")
    monkeypatch.setattr(bot, "load_model", lambda: pytest.fail("the model was asked"))
    result = bot.answer("How many people were evacuated after the earthquake in Tavira Bay?")
    assert result.refused and result.text == 'The articles don\'t mention "Tavira Bay".' and not result.citations
    assert result.passages  # what was searched stays visible
    misspelt = bot.answer("How many people left their homes near Selbby?")
    assert misspelt.refused and misspelt.text == 'The articles don\'t mention "Selbby" (did you mean "Selby"?).'


def test_cli_lists_the_articles_a_question_can_be_narrowed_to(tmp_path, capsys):
    from rag.cli import main

    corpus = tmp_path / "c"
    corpus.mkdir()
    _write(corpus, "dam.txt", " date 2025-03-01 Dam opens\n\nThe Elmfield dam opened.")
    where = ["--corpus", str(corpus), "--index", str(tmp_path / "i")]
    assert main(["list", *where]) == 0
    assert capsys.readouterr().out == "dam.txt\t2025-03-01\tDam opens\n"
    # an unknown article is named back before any model is loaded
    assert main(["ask", "When did the dam open?", "--article", "dma.txt", *where]) == 1
    assert "No article 'dma.txt' in the corpus" in capsys.readouterr().err


def test_a_chunk_cut_inside_a_long_sentence_is_finished_to_its_end(tmp_path, embedded):
    corpus = tmp_path / "c"
    corpus.mkdir()
    lede = ("Heathrow Airport was shut for the whole of Friday after a fire at a nearby electricity substation "
            "knocked out its power supply, grounding flights.")
    _write(corpus, "a.txt", f"{lede} Miliband ordered a review.")
    for overlap in (0, 1):  # the next chunk may repeat the last piece of the one before
        index, _ = store.sync(corpus, tmp_path / f"i{overlap}", max_chars=60, overlap=overlap, progress=False)
        first = index.article_chunks("a.txt")[0]
        assert not first.text.endswith(".")  # cut at a space, mid-sentence
        finished = index.finished(first)
        assert finished.text == lede and (finished.start, finished.end) == (0, len(lede))
        assert index.finished(finished) == finished
