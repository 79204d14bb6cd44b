from hypothesis import given, settings
from hypothesis import strategies as st

from rag.articles import Article, load_articles
from rag.chunking import chunk_article, sentence_spans
from tests.conftest import SEED


def _article(text: str) -> Article:
    return Article(doc_id="a.txt", title="t", date=None, text=text, source="a.txt")


def test_seed_chunks_are_exact_spans_with_overlap():
    article = load_articles(SEED.parent)[0]
    chunks = chunk_article(article, max_chars=400, overlap=1)
    assert len(chunks) > 10
    for chunk in chunks:
        assert article.text[chunk.start : chunk.end] == chunk.text
        assert len(chunk.text) <= 400
    # every chunk adds text; most repeat the sentence before; together they cover the article
    pairs = list(zip(chunks, chunks[1:]))
    assert all(b.end > a.end and b.start > a.start for a, b in pairs)
    assert sum(b.start < a.end for a, b in pairs) > len(pairs) / 2
    assert chunks[0].start == 0 and chunks[-1].end == len(article.text.rstrip())
    umerov = [c for c in chunks if "next step" in c.text]
    assert umerov and all("meeting between Putin and Zelensky" in c.text for c in umerov)


def test_sentences_do_not_break_at_abbreviations():
    text = "Mr. Smith met Dr. Jones in the U.S. on Monday. They talked."
    spans = sentence_spans(text)
    assert [text[s:e] for s, e in spans] == ["Mr. Smith met Dr. Jones in the U.S. on Monday.", "They talked."]


def test_a_sentence_longer_than_a_chunk_is_cut_at_spaces():
    text = "word " * 300
    chunks = chunk_article(_article(text), max_chars=200, overlap=0)
    assert len(chunks) > 5
    assert all(len(c.text) <= 200 and text[c.start : c.end] == c.text for c in chunks)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab .!?\n\"'X1")), max_size=600),
       st.integers(20, 300), st.integers(0, 2))
def test_chunks_are_always_exact_spans(text, max_chars, overlap):
    chunks = chunk_article(_article(text), max_chars=max_chars, overlap=overlap)
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.text.strip() == chunk.text and chunk.text
    if text.strip():
        assert chunks
