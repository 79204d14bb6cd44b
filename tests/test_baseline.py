from rag.articles import Article, load_articles
from rag.baseline import declines, paragraph_chunks
from tests.conftest import SEED


def test_paragraph_chunks_are_whole_paragraphs_and_exact_spans():
    article = load_articles(SEED.parent)[0]
    chunks = paragraph_chunks(article, size=600)
    assert len(chunks) > 5
    for chunk, after in zip(chunks, chunks[1:]):
        assert article.text[chunk.start : chunk.end] == chunk.text
        assert "\n\n" in article.text[chunk.end : after.start]  # they end where a paragraph does
    assert all(len(c.text) <= 600 for c in chunks)
    assert chunks[0].start == 0 and chunks[-1].end == len(article.text.rstrip())


def test_a_paragraph_longer_than_a_chunk_stays_whole():
    article = Article(doc_id="a.txt", title="t", date=None, text="Short one.\n\n" + "x" * 700 + "\n\nEnd.",
                      source="a.txt")
    assert [c.text for c in paragraph_chunks(article, size=600)] == ["Short one.", "x" * 700, "End."]


def test_the_usual_prompts_ways_of_declining_count_as_refusals():
    assert declines("The answer is not in the context provided.")
    assert declines("The context does not provide information about the turnout.")
    assert declines("I don't know.")
    assert declines("The articles don't say.")
    assert not declines("Istanbul.")
    assert not declines("The council did not provide a reason, but approved it by 7 votes to 2.")
