"""Stage 8: answer a question: retrieve, prompt, generate, then check the answer (rag/checks.py).

    from rag import answer
    result = answer("What did Umerov call the next step?")
    print(result.text)            # "A meeting between Putin and Zelensky [1]."
    for c in result.citations:    # the exact passages the markers point to
        print(c.n, c.title, c.date, c.text)

The passages are searched for with the question and a sentence the model first imagines an
article answering it with, inventing the details (`Settings.search_sentence_tokens`; hypothetical
document embeddings): the sentence uses the words an article would, and so finds passages that
say what the question asks in other words.

The model's answer is held to the checks in rag/checks.py: unsupported citations moved or
dropped, answers of the wrong kind or from a look-alike story declined; a question naming
something the retrieved articles never mention is declined before the model is asked.
An answer still standing is read back to the model in a conversation of its own, with its cited
passages and worked examples, and declined unless the model clearly says they give it as the
answer to exactly this question (`Settings.min_confirmation`). An answer the model wrote while it
gave the refusal a fair chance (`Settings.refusal_doubt`), from passages that miss several of the
question's words, needs a clear yes there (`Settings.hesitant_confirmation`): such hesitant
answers are mostly guesses from a passage on a nearby topic. So does any answer to a question
for a figure ("how many", "how long", "what percentage"), whose usual wrong answer is a
neighbouring thing's true figure, and the answer to a second try: a refusal the model was unsure
of (`Settings.second_try_below`) is asked again with the refusal forbidden, since the small model
declines many a question its passages answer in other words, and an answer that gives what the
question sets aside ("Besides Zelensky, who ...?"), or in a follow-up only what the conversation
already said, with its opening forbidden. A date the answer copies without its year gets the
year its passage gave it.
"""

from __future__ import annotations

import datetime as dt
import time
import unicodedata
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rag import index as index_store
from rag.checks import (
    absent_terms,
    answer_form,
    article_request,
    asked_again_of,
    check_citations,
    closest_sentence,
    collection_request,
    event_sentence,
    event_subject,
    gives_what_is_set_aside,
    is_hesitant,
    is_lookup,
    is_refusal,
    is_small_talk,
    is_yes_no,
    misses_the_question,
    named_person,
    names_its_subject,
    needs_clear_yes,
    points_back,
    request_topic,
    role_question,
    unanswered_person,
    unmentioned,
    words,
)
from rag.config import Settings
from rag.generation import Generator, load_generator
from rag.prompting import (
    CHECK_PREFIX,
    MARKERS,
    PREFIX,
    REFUSAL,
    SEARCH_PREFIX,
    Message,
    build_check_messages,
    build_messages,
    build_search_messages,
    complete_dates,
    format_date,
    passage_evidence,
    prompt_size,
    strip_markers,
    tidy_markers,
)
from rag.retrieval import Passage, Retriever


@dataclass(frozen=True)
class Citation:
    n: int
    doc_id: str
    title: str
    date: dt.date | None
    text: str  # the cited passage, exactly as in the article
    start: int  # its character span in the article's text
    end: int

    @classmethod
    def of(cls, passage: Passage) -> Citation:
        c = passage.chunk
        return cls(passage.n, c.doc_id, c.title, c.date, c.text, c.start, c.end)


@dataclass(frozen=True)
class Timings:
    retrieval_s: float
    first_token_s: float  # from the question to the model's first token
    total_s: float
    prompt_tokens: int = 0  # the whole prompt; its fixed prefix is cached between questions
    answer_tokens: int = 0
    decode_s: float = 0.0  # from the first token to the model's end of answer
    check_s: float = 0.0  # reading the answer back to the model (Settings.min_confirmation)
    search_sentence_s: float = 0.0  # writing the sentence searched with the question (part of retrieval_s)


@dataclass(frozen=True)
class Answer:
    question: str
    text: str  # with [n] markers that refer to `passages`
    citations: list[Citation]
    passages: list[Passage]
    timings: Timings
    refused: bool = False
    raw: str = field(default="", repr=False)  # the model's own words, before checking (its second try's, if any)
    # The probability the model gave the refusal as its opening (OpeningOdds); 0 when not asked.
    refusal_probability: float = 0.0
    # Its "Yes" share when asked afresh whether the passages give this answer (Settings.min_confirmation).
    confirmation: float | None = None
    # The sentence the model imagined an article answering with, searched with the question
    # (Settings.search_sentence_tokens); "" when off.
    search_sentence: str = ""


@dataclass(frozen=True)
class Search:
    """What searching for a question found: its passages, the sentence the model imagined an
    article answering it with (searched with it; "" when not written) and whether the question
    is declined before the model answers it (`absent_terms`)."""

    passages: list[Passage]
    declined: bool
    sentence: str = ""
    sentence_s: float = 0.0


@dataclass(frozen=True)
class Judgement:
    """What the checks made of the model's answer: its text (REFUSAL if a check failed), the
    passages it cites, the answer check's Yes share (None if not asked) and the seconds that took."""

    text: str
    cited: list[int]
    confirmation: float | None
    check_s: float


def clean_question(question: str, max_chars: int) -> str:
    """The question as text a model can take; ValueError with a message the user can act on."""
    if not isinstance(question, str):
        raise ValueError("The question must be text.")
    question = question.encode("utf-8", "replace").decode("utf-8")  # lone surrogates
    question = "".join(ch for ch in question if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    question = " ".join(question.split())
    if not question:
        raise ValueError("Please type a question.")
    if len(question) > max_chars:
        raise ValueError(f"The question is {len(question):,} characters long; please keep it under "
                         f"{max_chars:,}.")
    return question


def clean_history(history: Sequence[Message] | None) -> list[Message]:
    """The conversation before a question as the model takes it: {"role": "user" or "assistant",
    "content": text} messages. ValueError naming the first that is not one (it may come over HTTP)."""
    if history is None:
        return []
    if isinstance(history, (str, bytes)) or not isinstance(history, Sequence):
        raise ValueError('The history must be a list of messages, each {"role": "user" or "assistant", '
                         '"content": text}.')
    for i, message in enumerate(history, 1):
        if not (isinstance(message, dict) and message.get("role") in ("user", "assistant")
                and isinstance(message.get("content"), str)):
            raise ValueError(f'History message {i} is not {{"role": "user" or "assistant", "content": text}}: '
                             f"{str(message)[:80]}")
    return [{"role": m["role"], "content": m["content"]} for m in history]


def _told(question: str, text: str, passages: list[Passage], started: float,
          refused: bool | None = None) -> Iterator[str | Answer]:
    """A reply made without the model, as `RAG.stream` gives answers: its text, then the Answer
    citing all of `passages`. By default one citing none is a refusal; one telling about the
    articles themselves (how many there are, what can be asked) is not, though no passage states it."""
    citations = [Citation.of(p) for p in passages]
    took = time.perf_counter() - started
    yield text
    yield Answer(question, text, citations, passages, Timings(took, took, took),
                 refused=not citations if refused is None else refused)


def _cited(text: str, n: int) -> str:
    """A passage's text as an answer citing it: "Renworth welcomed a record 5.9 million visitors [1]."."""
    body = " ".join(text.split())
    return f"{body[:-1]} [{n}]{body[-1]}" if body[-1] in ".!?" else f"{body} [{n}]"


class RAG:
    """A corpus, its index and a model. Several can live in one process; models are shared.

        bot = RAG(corpus_dir="my_articles", model_path="models/qwen2.5-coder-0.5b-instruct.gguf")
        bot.answer("Who won the match?")
    """

    def __init__(self, settings: Settings | None = None, **overrides: object) -> None:
        self.settings = (settings or Settings()).with_(**overrides)
        self._retriever: Retriever | None = None

    @property
    def index(self) -> index_store.Index:
        return self.retriever.index

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            self.refresh()
        assert self._retriever is not None
        return self._retriever

    def refresh(self, progress: bool = True) -> index_store.SyncReport:
        """Bring the index up to date with the corpus folder (only changed files are embedded)."""
        s = self.settings
        index, report = index_store.sync(
            s.corpus_dir, s.index_path, max_chars=s.chunk_chars, overlap=s.chunk_overlap_sentences,
            progress=progress, loaded=self._retriever.index if self._retriever else None,
        )
        if self._retriever is None or self._retriever.index is not index:
            self._retriever = Retriever(index)
        return report

    def load(self, progress: bool = False) -> Generator:
        """Load now what the first question would otherwise wait for, seconds at a time: the index
        (brought up to date), the embedding model and BM25 (loaded at the first search), the model."""
        self.refresh(progress=progress)
        if self.index.chunks:
            self.retriever.retrieve("news", 1)
        return self.load_model()

    def load_model(self) -> Generator:
        """The model, loaded once per process, with the fixed prompt prefixes already evaluated."""
        s = self.settings
        generator = load_generator(Path(s.model_path), s.n_ctx, s.n_threads)
        generator.prime("search", SEARCH_PREFIX, s.cache_dir)
        generator.prime("check", CHECK_PREFIX, s.cache_dir)
        generator.prime("answer", PREFIX, s.cache_dir)
        return generator

    def search_sentence(self, query: str) -> str:
        """The sentence the model imagines a news article answering `query` with, its first line."""
        # The question is at most max_question_chars; a long earlier exchange is cut from the front.
        request = build_search_messages(query[-self.settings.max_question_chars :])
        sentence = "".join(self.load_model().stream(request, self.settings.search_sentence_tokens)).strip()
        return sentence.splitlines()[0] if sentence else ""

    def _articles(self, passages: Sequence[Passage]) -> str:
        """The whole text of the passages' articles, each once."""
        return "\n".join(self.index.article_text(d) for d in dict.fromkeys(p.chunk.doc_id for p in passages))

    def _declined(self, question: str, articles: Collection[str]) -> str:
        """The reply to a question naming what its passages' articles don't: which name no article
        asked about has ('The articles don't mention "Umerv" (did you mean "Umerov"?).'), else
        REFUSAL (another article may have it, and the search missed it; or a rank is missing)."""
        scope = list(articles) or self.index.doc_ids
        names = unmentioned(question, "\n".join(self.index.article_text(d) for d in scope))
        if not names:
            return REFUSAL
        return "The articles don't mention " + " or ".join(
            f'"{name}"' + (f' (did you mean "{near}"?)' if near else "") for name, near in names) + "."

    def _search(self, question: str, earlier: Sequence[Message], top_k: int,
                articles: Collection[str]) -> Search:
        """The question's passages, searched together with the `earlier` exchange, and whether it
        is declined before the model answers."""
        exchange = [strip_markers(m["content"]) for m in earlier if not is_refusal(m["content"])]
        query = " ".join([*exchange, question])
        form = answer_form(question)
        passages = self.retriever.retrieve(query, top_k, form, articles)
        # A question naming something none of its passages' articles mention is declined at once.
        if absent_terms(question, self._articles(passages)):
            return Search(passages, declined=True)
        if not self.settings.search_sentence_tokens:
            return Search(passages, declined=False)
        # Any other is searched again together with a sentence the model imagines an article
        # answering it with: that sentence's words are often the article's where the question's are not.
        imagining = time.perf_counter()
        sentence = self.search_sentence(query)
        sentence_s = time.perf_counter() - imagining
        passages = self.retriever.retrieve(f"{query} {sentence}", top_k, form, articles)
        declined = bool(absent_terms(question, self._articles(passages)))
        return Search(passages, declined, sentence, sentence_s)

    def _judge(self, question: str, raw: str, passages: Sequence[Passage], second_try: bool,
               refusal_probability: float, generator: Generator, subject: set[str], context: str) -> Judgement:
        """The model's answer held to the checks; one that fails a check becomes REFUSAL. `subject`:
        the words its cited passages must hold (what a question asked again is now asked of);
        `context`: the question before, whose names the cited articles must hold too."""
        s = self.settings
        text, cited = check_citations(raw, question, passages)
        cited_passages = [p for p in passages if p.n in cited]
        evidence = " ".join(passage_evidence(p) for p in cited_passages)
        # The answer's own articles must name what the question names: a figure from a look-alike
        # story ("the Storm Ingrid gust" for Storm Cassia) is the usual wrong answer. A question asked
        # again of something else is searched with the one before, so its passages (or their
        # articles' titles: "The world's largest contract chipmaker" is TSMC) must name the new
        # subject: "And easyJet?" after Ryanair's fares had Ryanair's "Average fares fell 15%" given
        # as easyJet's, confirmed at 0.81 (the Ryanair article names easyJet elsewhere). A follow-up
        # read with the question before must be answered from articles naming what that question
        # named: "For how long?" after "Who was jailed in Millbank?" had been answered from another
        # jailing's article (confirmed at 0.98).
        titled = " ".join([evidence, *(p.chunk.title for p in cited_passages)])
        articles = self._articles(cited_passages) if cited else ""
        if cited and (misses_the_question(question, text, evidence) or not subject <= words(titled)
                      or absent_terms(question, articles) or absent_terms(context, articles)):
            text, cited = REFUSAL, []
        # Then the model itself, asked afresh, must find the answer stated for exactly this question;
        # clearly so for an answer it hesitated over, from passages that are a near miss, or gave
        # only at its second try, and for a figure or a reason (`needs_clear_yes`).
        hesitant = bool(cited) and (second_try or is_hesitant(question, evidence, refusal_probability,
                                                              s.refusal_doubt))
        confirmation, check_s = None, 0.0
        if cited and s.min_confirmation > 0:
            checking = time.perf_counter()
            confirmation = generator.yes_share(build_check_messages(question, text, cited_passages))
            check_s = time.perf_counter() - checking
            clear_yes = hesitant or needs_clear_yes(question)
            if confirmation < (s.hesitant_confirmation if clear_yes else s.min_confirmation):
                text, cited = REFUSAL, []
        elif hesitant:
            text, cited = REFUSAL, []
        return Judgement(tidy_markers(complete_dates(text, evidence)), cited, confirmation, check_s)

    def _about_article(self, question: str, request: str, history: Sequence[Message], articles: Collection[str],
                       started: float) -> Iterator[str | Answer]:
        """A request about an article as a whole, answered from it without the model, its opening
        cited: "What is this article about?" with that opening (a news article's lede is its own
        summary, written by the journalist; the model, asked for a fact, declines such requests),
        "When was this article published?" with its date, "Tell me more" with the passage after
        the one the last answer came from, "What happened at Heathrow?" with its first sentence
        holding most of the words of what happened (the lede, unless the event is a later part of
        the story). The article is the one the search is narrowed to or the only one, else the one
        the request's other words find ("Summarize the article about the library"), else, in a
        chat, the one the last answer came from."""
        index = self.index
        scope = list(articles) or index.doc_ids
        topic = request_topic(question)
        # The last reply, if it cited passages (a refusal, "Which article?" or small talk cites none).
        cited_last = bool(history) and history[-1]["role"] == "assistant" and MARKERS.search(history[-1]["content"])
        answered = history[-2:] if cited_last else []
        if len(scope) > 1 and not topic and not answered:
            yield from _told(question, f"Which article? There are {len(scope)}: name its subject (\"Summarize "
                             "the article about ...\"), or ask about that article only.", [], started)
            return
        query = question if topic else " ".join(strip_markers(m["content"]) for m in answered)
        best = scope[0] if len(scope) == 1 else self.retriever.retrieve(query, 1, None, articles)[0].chunk.doc_id
        article = index.article_text(best)
        lede = index.finished(index.article_chunks(best)[0])
        if absent_terms(question, article) or 2 * len(topic & words(article)) < len(topic):
            text, cited = REFUSAL, []  # no article on that subject: the nearest one is not it
        elif request == "date":
            text, cited = (f"{format_date(lede.date)} [1].", [Passage(1, lede, 1.0)]) if lede.date else (
                "The article gives no date.", [])
        elif request == "more" and answered:
            last = self.retriever.retrieve(query, 1, None, [best])[0].chunk  # what the last answer came from
            after = [c for c in index.article_chunks(best) if c.end > last.end]
            if after:  # without the sentence a chunk may share with the one before
                following = index.finished(after[0])
                new = following.text[max(0, last.end - following.start) :].strip() or following.text
                text, cited = _cited(new, 1), [Passage(1, following, 1.0)]
            else:
                text, cited = "That is where the article ends.", []
        elif request == "people":  # each cited by the passage first naming them
            people = index.people_of(best)
            firsts = list(dict.fromkeys(chunk for _, chunk in people))
            named = ", ".join(f"{name} [{firsts.index(chunk) + 1}]" for name, chunk in people)
            text = f"People the article names: {named}." if people else "The article names no one."
            cited = [Passage(n, chunk, 1.0) for n, chunk in enumerate(firsts, start=1)]
        elif request == "event":
            chunks = [index.finished(chunk) for chunk in index.article_chunks(best)]
            i, sentence = event_sentence(event_subject(question) or "", [c.text for c in chunks]) or (0, lede.text)
            text, cited = _cited(sentence, 1), [Passage(1, chunks[i], 1.0)]
        else:  # a summary, or "Tell me more" before anything was answered
            text, cited = _cited(lede.text, 1), [Passage(1, lede, 1.0)]
        yield from _told(question, text, cited, started)

    def _about_collection(self, question: str, request: str, topic: str, articles: Collection[str],
                          started: float) -> Iterator[str | Answer]:
        """A question about the articles together, answered from the index without the model: how
        many there are, the latest one (on a topic or not), or which mention something: those
        holding all its words (stemmed), the latest first, each cited by its passage holding most
        of them (its opening when no topic is given). A mention is a matter of words, so it is
        counted, not left to a search's guess."""
        index = self.index
        scope = list(articles) or index.doc_ids
        ledes = {d: index.article_chunks(d)[0] for d in scope}
        latest_first = sorted(scope, key=lambda d: ledes[d].date or dt.date.min, reverse=True)
        if request == "count":
            dates = sorted(c.date for c in ledes.values() if c.date)
            span = f", dated {dates[0]:%-d %B %Y} to {dates[-1]:%-d %B %Y}" if dates and dates[0] != dates[-1] else ""
            text = f"There {'is 1 article' if len(scope) == 1 else f'are {len(scope)} articles'}{span}."
            yield from _told(question, text, [], started, refused=False)
            return
        wanted = words(topic)
        found = [d for d in latest_first if not topic or wanted <= words(index.article_text(d))]
        shown = found[:1] if request == "latest" else found[: self.settings.listed_articles]
        passages = [Passage(n, max(index.article_chunks(d), key=lambda c: len(wanted & words(c.text))), 1.0)
                    for n, d in enumerate(shown, 1)]
        if not found:
            text = f"No article mentions {topic}."
        elif request == "latest":
            first = index.finished(passages[0].chunk)
            text = (f"The latest article{f' mentioning {topic}' if topic else ''}"
                    f"{f', of {format_date(first.date)}' if first.date else ''}: {_cited(first.text, 1)}")
        else:
            titles = "; ".join(f"{p.chunk.title} [{p.n}]" for p in passages)
            more = f"; and {len(found) - len(shown)} more" if len(found) > len(shown) else ""
            text = (f"{len(found)} articles mention {topic}, the latest first: {titles}{more}." if len(found) > 1
                    else f"1 article mentions {topic}: {titles}.")
        yield from _told(question, text, passages, started)

    def _closest(self, asked: str, question: str, passages: Sequence[Passage], started: float,
                 ) -> Iterator[str | Answer]:
        """A yes-or-no question, or words to look up ("trump putin call"), answered with the
        passages' sentence that holds most of its words, quoted and cited. Not with a yes or no:
        the model says yes whatever its passages say, and no check can tell a right yes from a
        wrong one, so that reply counts as declined (it asserts nothing). With no sentence near
        enough, the refusal."""
        chunks = [self.index.finished(p.chunk) for p in passages]  # a quoted sentence ends where it ends
        closest = closest_sentence(question, [chunk.text for chunk in chunks])
        if closest is None:
            yield from _told(asked, REFUSAL, [], started)
            return
        i, sentence = closest
        yes_no = is_yes_no(question)
        lead = "The closest the articles come" if yes_no else "The articles say"
        yield from _told(asked, f"{lead}: “{sentence}” [1]", [Passage(1, chunks[i], passages[i].similarity)],
                         started, refused=yes_no)

    def stream(
        self, question: str, *, history: Sequence[Message] | None = None, top_k: int | None = None,
        articles: Collection[str] = (),
    ) -> Iterator[str | Answer]:
        """Yield the answer's text as the model writes it, then the checked `Answer`.

        `articles` (doc_ids, the file names under the corpus folder) narrows the search to them:
        questions about one article need not compete with other articles on the same story.
        """
        started = time.perf_counter()
        s = self.settings.with_(top_k=top_k)  # a top_k given here is checked like the setting
        question = clean_question(question, s.max_question_chars)
        history = clean_history(history)[-2 * s.history_turns :]
        self.refresh(progress=False)  # articles added, edited or deleted since the last question count
        if not self.index.chunks:
            raise RuntimeError(f"No articles in {s.corpus_dir}: add .txt or .md files there first.")
        if is_small_talk(question):  # "Hello", "Thanks!": say what can be asked, not "The articles don't say."
            n = len(articles) or len(self.index.doc_ids)
            yield from _told(question, f"I answer questions about the {n} article{'s' * (n != 1)} here (who said "
                             "or did what, when, where, how many), citing their passages, and say so when they "
                             "don't tell. Ask also what an article is about, or which articles mention something.",
                             [], started, refused=False)
            return
        request = article_request(question)
        if request:  # "What is this article about?", "When was this article published?"
            yield from self._about_article(question, request, history, articles, started)
            return
        if collection := collection_request(question):  # "Which articles mention a strike?"
            yield from self._about_collection(question, *collection, articles, started)
            return
        # "And the Conservatives?" after "How many seats did Labour win?": that question of them,
        # searched with the last question, which tells whose Conservatives (not with its answer,
        # whose words find the last answer again: Ryanair's fares for "And easyJet?").
        asked, typed = question, self.index.truecased(question)
        question = asked_again_of(typed, history)
        before = asked_again_of(history[-2]["content"], history[:-2]) if question != typed else ""  # Labour's
        # In a chat the question before is often on another article: a question that does not
        # point back is answered as if asked alone (eval/HISTORY.md, "asked as one chat"), and so
        # are words to look up ("Umerov next step"), however few.
        if not points_back(question) or is_lookup(question):
            history = []
        # "Who is Umerov?": his job or title; "What did he say?" after him, or after a question on
        # him: what Umerov said.
        question = role_question(named_person(question, history, self.index.people))
        if person := unanswered_person(question, history):
            yield from _told(asked, f'The articles don\'t say who "{person}" is: the last question went unanswered.',
                             [], started)
            return
        # A follow-up that names nothing of its own ("What was hit there?") is searched together
        # with the last question and its answer, which often name what "he" or "there" is.
        earlier = [{"role": "user", "content": before}] if before else (
            [] if names_its_subject(question) else history[-2:])
        found = self._search(question, earlier, s.top_k, articles)
        passages = found.passages
        retrieved = time.perf_counter()
        if found.declined:
            text = self._declined(question, articles)
            yield text
            took = time.perf_counter() - started
            yield Answer(asked, text, [], passages, Timings(retrieved - started, took, took,
                                                                  search_sentence_s=found.sentence_s),
                         refused=True, search_sentence=found.sentence)
            return

        if is_yes_no(question) or is_lookup(question):  # no question for the model to answer
            yield from self._closest(asked, question, passages, started)
            return

        generator = self.load_model()
        messages = build_messages(question, passages, history, generator.count_tokens,
                                  budget=generator.n_ctx - s.max_answer_tokens)
        raw = ""
        first_token = None
        pieces = 0
        refusal_odds = generator.opening_odds(REFUSAL)
        for piece in generator.stream(messages, s.max_answer_tokens, refusal_odds):
            first_token = first_token or time.perf_counter()
            raw += piece
            pieces += 1
            yield piece
        # A refusal the model was unsure of gets a second try with the refusal's opening forbidden:
        # the small model declines many a question its passages answer in other words ("purposely
        # disregarding" for "deliberately ignoring"). So does an answer that gives what the question
        # sets aside ("Besides Zelensky, who ...?"), or what the conversation already said, or what
        # the question asked again was about ("And easyJet?": Ryanair's fares again), with its own
        # opening forbidden. That answer then needs the check's clear yes.
        unsure_refusal = is_refusal(raw) and refusal_odds.probability < s.second_try_below
        second_try = (unsure_refusal or gives_what_is_set_aside(question, raw, history, before)
                      ) and s.min_confirmation > 0
        if second_try:
            forbidden = generator.opening_odds(REFUSAL if unsure_refusal else raw, forbid=True)
            second = generator.complete(messages, s.max_answer_tokens, forbidden)
            raw = second.text
            pieces += second.pieces
        generated = time.perf_counter()
        subject = words(question) - words(before) if before else set()
        context = "" if before else next((m["content"] for m in earlier if m["role"] == "user"), "")
        judged = self._judge(question, raw, passages, second_try, refusal_odds.probability, generator, subject,
                             context)
        by_n = {p.n: p for p in passages}
        citations = [Citation.of(by_n[n]) for n in judged.cited]
        done = time.perf_counter()
        timings = Timings(retrieved - started, (first_token or done) - started, done - started,
                          prompt_size(messages, generator.count_tokens), pieces, generated - (first_token or generated),
                          judged.check_s, found.sentence_s)
        yield Answer(asked, judged.text, citations, passages, timings, refused=not judged.cited, raw=raw,
                     refusal_probability=refusal_odds.probability, confirmation=judged.confirmation,
                     search_sentence=found.sentence)

    def answer(
        self, question: str, *, history: Sequence[Message] | None = None, top_k: int | None = None,
        articles: Collection[str] = (),
    ) -> Answer:
        for item in self.stream(question, history=history, top_k=top_k, articles=articles):
            if isinstance(item, Answer):
                return item
        raise AssertionError("stream ended without an Answer")


_default: RAG | None = None


def default_rag() -> RAG:
    """The process-wide RAG configured from the environment (RAG_CORPUS_DIR, ...)."""
    global _default
    if _default is None:
        _default = RAG()
    return _default


def answer(question: str, *, history: Sequence[Message] | None = None, top_k: int | None = None,
           articles: Collection[str] = ()) -> Answer:
    return default_rag().answer(question, history=history, top_k=top_k, articles=articles)


def answer_stream(
    question: str, *, history: Sequence[Message] | None = None, top_k: int | None = None,
    articles: Collection[str] = (),
) -> Iterator[str | Answer]:
    return default_rag().stream(question, history=history, top_k=top_k, articles=articles)
