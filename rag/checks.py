"""The checks an answer must pass to stand; stage 8 (rag/answer.py) holds every answer to them.

A small model sometimes cites the wrong passage, cites nothing, or answers from thin air.
So each answer sentence is checked against the passages: its words that are not already in
the question must mostly appear in the passage it cites, and every number it gives must.
Unsupported markers are moved to the passage that does support the sentence, or dropped; an
answer left with no support at all becomes the plain refusal, citing nothing. So does an
answer without a count to "how many", or without a name to "who" or "the names of", one made
only of the question's own words ("Alaska" for "In which Alaskan city ...?"), or one from
passages that never state the year or ordinal ("2021", "second") the question asks about.

Before the model is asked, a question that names something none of the retrieved articles
mentions ("the earthquake in Tavira Bay"), or asks for a rank they never use ("who finished
second"), is declined: the articles can't say (`absent_terms`). After it, so is an answer whose
cited articles don't name it: the answer came from a look-alike story.

Words are compared after Snowball stemming, with small numbers read as digits (`words`). The
same readings of a question serve the pipeline beside the checks: whether it points back to the
conversation (`points_back`), names a subject of its own (`names_its_subject`) and asks for a
number or a date (`answer_form`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Iterator, Sequence
from functools import lru_cache

import Stemmer

from rag.chunking import sentence_spans
from rag.prompting import (
    MARKERS,
    MONTHS,
    NUMBER_WORDS,
    REFUSAL,
    WEEKDAYS,
    Message,
    passage_evidence,
    strip_markers,
)
from rag.retrieval import Passage

MIN_SUPPORT = 0.5  # share of an answer sentence's new words that its passage must contain
# A cited passage may support its sentence a little less than the best passage does (two may
# each hold part of it), not much less: then the marker moves to the best one.
SUPPORT_MARGIN = 0.25
# A doubtful answer (Settings.refusal_doubt) stands only when its passages repeat at least this
# share of the question's words (one missing word is always allowed): then they are about what was asked.
CLOSE_MATCH = 0.8

# Not after an initial: "U. S. President Joe Biden" is one sentence.
_SENTENCE_END = re.compile(r"(?<=[.!?])(?<!\b[A-Z]\.)\s+(?=[A-Z\"“])")
_WORD = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*")
_REFUSAL = re.compile(
    r"articles? (?:do(?:es)?n[o'’]?t|do not|does not) (?:say|mention|state|specify)|"
    r"passages? (?:do(?:es)?n[o'’]?t|do not|does not)|not (?:mentioned|stated|specified|provided)|"
    r"no (?:information|mention)|(?:cannot|can't|unable to) (?:answer|determine|find)",
    re.IGNORECASE,
)
# "How many" wants a count; "who", "the names of" and "which firm" want a name: an answer
# without one is a near miss ("The school" for who designed it, "The original construction firm").
_COUNT_QUESTION = re.compile(r"^how many\b", re.IGNORECASE)
_NAME_QUESTION = re.compile(r"^who\b|\bnames? of\b", re.IGNORECASE)
_WHICH = re.compile(r"\bwhich\s+([a-z]+)", re.IGNORECASE)  # "which firm": the answer's kind
# "To what level did the bank raise its rate?" wants the level, not the step ("25 basis points").
_LEVEL_QUESTION = re.compile(r"\bwhat level\b", re.IGNORECASE)
_STEP = re.compile(r"\d[\d,.]*\s*(?:basis|percentage)[ -]points?\b", re.IGNORECASE)
_COUNT = re.compile(r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|\w+teen|twenty|"
                    r"thirty|forty|fifty|sixty|seventy|eighty|ninety|dozens?|hundreds?|thousands?|millions?|"
                    r"billions?)\b", re.IGNORECASE)
_SET_ASIDE = re.compile(r"\b(?:besides|apart from|aside from|other than|except(?: for)?)\s+([^,?]+)", re.IGNORECASE)
_CHOICE = re.compile(r"\bor\b", re.IGNORECASE)
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
# Questions whose answer is a number or a date, and text that holds one (`answer_form`).
_NUMBER_QUESTION = re.compile(r"\bhow (?:many|much|long|old|far|big|large|tall|high|fast|deep|heavy)\b|"
                              r"\bwhat (?:percentage|proportion|share)\b|\bby what\b", re.IGNORECASE)
_WHY = re.compile(r"\s*(?:why|how come|for what reason)\b", re.IGNORECASE)
# "When" opens a date question; inside one it is a conjunction ("the score when they met").
_DATE_QUESTION = re.compile(r"^when\b|\b(?:what|which) (?:date|day|year)\b", re.IGNORECASE)
_DATED = re.compile(rf"\b(?:{'|'.join([*MONTHS, *(d.title() for d in WEEKDAYS)])}|yesterday|today|tomorrow|"
                    r"ago|last (?:year|month)|(?:19|20)\d\d)\b")
_PERCENTAGE = re.compile(r"\d[\d,.]*\s*(?:%|per ?cent)", re.IGNORECASE)
_ANSWER_KIND = re.compile(r"\b(?:which|what)\s+(?:(?:kind|type|sort)\s+of\s+)?[a-z]+", re.IGNORECASE)
_QUESTION_WORD = re.compile(r"[\w'’-]+")
_CAPITALISED = re.compile(r"\b[A-Z][\w'’-]+")
# A claim's names: its capitalised words but the first, unless a capitalised word follows it
# ("Vince Vance", not "Because it was offside" or "Seven minutes").
_NAMED = re.compile(r"(?<=\S )[A-Z][\w'’-]*|^[A-Z][\w'’-]*(?= [A-Z])")
# Words by which a question leans on the conversation before it ("How old is she?", "What was hit
# there?", "And who else?").
_POINTS_BACK = re.compile(r"\b(?:he|she|it|they|him|her|his|hers|its|their|them|there|then|that|those|this|"
                          r"these|else|same)\b|^(?:and|also|what about|how about)\b", re.IGNORECASE)
# Capitalised words that are not names an article must repeat: calendar words (the article may
# give a date instead) and adjectives of nationality before a noun ("European leaders",
# "Ukrainian forces", "Mexican", "German", "Kenyan"), but not the names of places that end like
# them ("the Bank of Japan set", "Iran", "Pakistan", "Taiwan", "Busan", "Nissan").
_CALENDAR = frozenset([*(m.lower() for m in MONTHS), *WEEKDAYS])
_NATIONALITY = re.compile(r"(?:[bcdeiklmy]an|ese|ish|i)$")
_UNIT = re.compile(r"(?<=\d)[a-z]+$")  # "12m", "168km", "18th": the number is what must match
_NUMBERS = {word: str(n) for n, word in enumerate(NUMBER_WORDS)}
_ONES = NUMBER_WORDS[:10]
_TEN_VALUES = {word: 10 * n for n, word in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(),
                                                      start=2)}
_TENS = re.compile(rf"\b({'|'.join(_TEN_VALUES)})(?:[- ]({'|'.join(_ONES[1:])}))?\b")  # "thirty-one"
_ORDINALS = frozenset("first second third fourth fifth sixth seventh eighth ninth tenth".split())
_RANKS = _ORDINALS | {"latest", "most", "least"}
# What an ordinal may pin the answer to ("its first week", "the third stage", "first-round votes"):
# a passage with the count for another ("its first day", "first year") gives another fact.
_PERIODS = frozenset("day night weekend week month year season quarter half phase stage round leg test game match "
                     "race term session".split())
_STOPWORDS = frozenset(
    "a an the and or but of to in on at by for with from as is are was were be been being that "
    "this these those it its he she they them his her their who whom whose which what when where "
    "why how did do does had has have will would should could can may might not no yes there here "
    "than then also about into over after before said says say according s".split()
)


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def words(text: str) -> set[str]:
    """Content words, stemmed, numbers up to 99 as digits and numbers without their unit or
    ordinal ending: "discussed" in a passage supports "discuss" in an answer, "five votes to two"
    supports "5-2", "thirty-one" supports "31", and "the 104th minute" supports "104th"."""
    text = _TENS.sub(lambda m: str(_TEN_VALUES[m[1]] + (_ONES.index(m[2]) if m[2] else 0)), text.lower())
    found = [_NUMBERS.get(w, _UNIT.sub("", w.replace(",", ""))) for w in _WORD.findall(text) if w not in _STOPWORDS]
    return set(_stemmer().stemWords(found))


def parse_markers(sentence: str) -> tuple[str, list[int]]:
    """(sentence without markers, the passage numbers its markers name, in order)."""
    numbers = [int(n) for group in MARKERS.findall(sentence) for n in re.split(r"[,;]", group)]
    return MARKERS.sub("", sentence).strip(), list(dict.fromkeys(numbers))


def is_refusal(text: str) -> bool:
    return not text.strip() or bool(_REFUSAL.search(text))


def support(claim: str, question: str, passage_text: str) -> float:
    """Share of the claim's new words (not in the question) that the passage contains.

    A claim that adds nothing to the question ("The spokesperson quoted is [1].") answers nothing,
    and one with a number or a name the passage doesn't give ("55 years old", "Vince Vance" for
    JD Vance) is made up, however many of its other words the passage has.
    """
    asked = words(question)
    new = words(claim) - asked
    said = words(passage_text)
    named = words(" ".join(_NAMED.findall(claim))) - asked
    if not new or any(w[0].isdigit() and w not in said for w in new) or not named <= said:
        return 0.0
    return len(new & said) / len(new)


# Requests about an article as a whole, answered from the article itself, not from a fact in it.
# "Summarize the article", "What is this story about?", "the gist of the story", "tl;dr", "Give me
# the key points", "an overview"; not "the main point of contention" or "the key points of the
# deal", facts.
_ARTICLE = r"(?:this|the) (?:article|story|piece|report|news)"
SUMMARY_REQUEST = re.compile(
    rf"\b(?:summar(?:y|i[sz]e)|tl;? ?dr|gist of {_ARTICLE}|what(?:'s| is) {_ARTICLE}(?: \w+)? about"
    rf"|(?:(?:main|key) (?:points|takeaways)|overview)(?! (?:of|on|in|from|about) (?!{_ARTICLE})))\b",
    re.IGNORECASE)
# "When was this article published?", "What date is the story from?": the article's own date (asked,
# the model gave the day of an interview the article mentions); not "When was the report published?",
# often a report the article is about.
_THE_ARTICLE = r"(?:this|the) (?:article|story|piece)"
DATE_REQUEST = re.compile(
    rf"\b(?:when|what date|what day) (?:was|is) {_THE_ARTICLE}\b(?=.*\b(?:published|written|dated|from)\b)"
    rf"|\bwhat(?:'s| is) the (?:publication )?date of {_THE_ARTICLE}\b(?!['’])", re.IGNORECASE)
# What such a request says besides naming its article ("Summarize the article about the library").
_REQUEST_WORDS = ("summarize summarise summary tl dr gist main key points takeaways overview article story piece "
                  "report news published written dated date day publication give me you please can could tell "
                  "short brief say more go on continue keep going else anything happened happening people "
                  "persons players figures names mentioned named quoted involved list")

# Questions about the articles together, not a fact in one: "Which articles mention a strike?", "Is
# there anything about football?", "How many articles are there?", "What is the latest news?",
# "What's the latest on the ceasefire talks?"; not "What is the latest figure for inflation?".
_ARTICLES = r"(?:articles?|stories|story|news|reports?|pieces?)"
_WHICH_MENTION = re.compile(
    rf"\s*(?:(?:which|what) {_ARTICLES}|do(?:es)? any {_ARTICLES}|(?:find|list|show)(?: me)?(?: the| all)? {_ARTICLES}"
    rf"|(?:is|are) there (?:any(?:thing)?|an?|some)?(?: {_ARTICLES})?)(?: that| which)?"
    r" (?:mentions?|mentioning|(?:are|is) about|about|on|talks? about|covers?|covering|discuss(?:es)?|refers? to)"
    r" (?P<topic>.+?)[\s?.!]*", re.IGNORECASE)
_HOW_MANY_ARTICLES = re.compile(
    rf"\s*how many {_ARTICLES} (?:are there|do you have|have you got|are (?:here|indexed))[\s?.!]*", re.IGNORECASE)
_LATEST_ARTICLES = re.compile(
    rf"\s*(?:what(?:'s| is| are) (?:the )?(?:latest|newest|most recent)(?: {_ARTICLES})?|what's new)"
    r"(?: (?:on|about|with|in) (?P<topic>.+?))?[\s?.!]*", re.IGNORECASE)


def collection_request(question: str) -> tuple[str, str] | None:
    """("mentions", "a strike"), ("count", ""), ("latest", "") or ("latest", "the ceasefire talks") for
    a question about the articles together, else None."""
    if _HOW_MANY_ARTICLES.fullmatch(question):
        return "count", ""
    if mentions := _WHICH_MENTION.fullmatch(question):
        request = "mentions", mentions["topic"]
    elif latest := _LATEST_ARTICLES.fullmatch(question):
        request = "latest", latest["topic"] or ""
    else:
        return None
    # "Which articles mention it?" names nothing to look for: a question on the conversation.
    return request if not request[1] or words(request[1]) else None


# "Hello", "Thanks!", "What can you do?": nothing asked about the articles.
_SMALL_TALK = re.compile(
    r"(?:hi|hello|hey|good (?:morning|afternoon|evening)|thanks?(?: you)?(?: very much)?|cheers|ok(?:ay)?|help|"
    r"what can you do|who are you|how does this work)[\s!.?]*", re.IGNORECASE)


def is_small_talk(question: str) -> bool:
    return bool(_SMALL_TALK.fullmatch(question.strip()))


# "Did the talks end in a ceasefire?", "Is Umerov the foreign minister?": asked for a yes or no, which
# the small model gives as "Yes [1]." whatever its passages say (yes to 13 of 14 such questions on
# the seed article, five of them wrongly). Not a choice ("Did Labour or the Conservatives win?")
# nor a question inside a request ("Can you tell me who won?").
_YES_NO = re.compile(
    r"\s*(?:is|are|was|were|do|does|did|has|have|had|will|would|can|could|should|must)(?:n't)?\b"
    r"(?!.*\bor\b)(?!\s+(?:you|i)\s+(?:tell|know|say|explain|give|show|list|find|see)\b)", re.IGNORECASE)


def is_yes_no(question: str) -> bool:
    return bool(_YES_NO.match(question))


# "trump putin call", "bitcoin price": a few words to look up, typed as into a search box, not a
# question or a request ("Name the city ...", "Explain the root causes").
_ASKS = re.compile(r"\s*(?:who|whom|whose|what|which|when|where|why|how|tell|give|show|list|find|explain|describe|"
                   r"summar\w*|name|compare|please|i)\b", re.IGNORECASE)


def is_lookup(question: str) -> bool:
    return ("?" not in question and not _ASKS.match(question) and not is_yes_no(question)
            and len(_QUESTION_WORD.findall(question)) <= 6)


def closest_sentence(question: str, texts: Sequence[str]) -> tuple[int, str] | None:
    """(which text, its sentence) holding most of the question's (or a look-up's) words, the first
    such among equals (texts come best first). None unless it holds more than half of them, and
    half of those that are no name: what is asked about them ("Did Vance apologise to Zelensky?"
    is not answered by "Zelensky met Vance")."""
    asked = asked_words(question)
    named = words(" ".join(_NAMED.findall(question)))
    spans = [(i, " ".join(text[start:end].split())) for i, text in enumerate(texts)
             for start, end in sentence_spans(text)]
    # not a heading ("- Push for sanctions -")
    sentences = [(i, s) for i, s in spans if len(_WORD.findall(s.lower())) > 3]
    held = [asked & words(sentence) for _, sentence in sentences]
    best = max(range(len(sentences)), key=lambda k: (len(held[k]), -k), default=None)
    if best is None or 2 * len(held[best]) <= len(asked) or 2 * len(held[best] - named) < len(asked - named):
        return None
    return sentences[best]


def event_sentence(subject: str, texts: Sequence[str]) -> tuple[int, str] | None:
    """(which text, its sentence) telling what happened to `subject` in an article (its texts in
    reading order): the article's first sentence, its lede, when it holds any of the subject's
    words ("What happened to Stellantis's CEO?": Tavares's resignation, not a later quote holding
    "Stellantis" and "CEO"); else the sentence holding most of them (`closest_sentence`): "What
    happened in Istanbul?" is a later part of the story."""
    for start, end in sentence_spans(texts[0])[:1] if texts else []:
        if asked_words(subject) & words(lede := " ".join(texts[0][start:end].split())):
            return 0, lede
    return closest_sentence(subject, texts)


# "Tell me more", "Go on", "What else?": the article the last answer came from, read on.
_MORE = re.compile(r"\s*(?:(?:please |can you |could you )?(?:tell me|say) more|more|go on|continue|keep going|"
                   r"what else|anything else)(?:,? please)?[\s?.!]*", re.IGNORECASE)


# "What happened at Heathrow?", "What's going on in Kenya?", "What happened to the Istanbul talks?":
# the event itself, which the first sentence of its article on it tells (its lede, mostly); the
# model gave a detail ("Flights were cancelled [2].", declined at 0.69). Not "What happened to him?"
# nor "What happened next?", which lean on the conversation.
_EVENT = re.compile(r"\s*what(?:'s|’s| has| had| is)? (?:been )?(?:happened|happening|going on)\s+"
                    r"(?:at|in|to|with|on|over|between|after|during)\s+(?P<subject>[^?!]+?)[\s?.!]*", re.IGNORECASE)


def event_subject(question: str) -> str | None:
    """"Heathrow" for "What happened at Heathrow?" (`_EVENT`); None for any other question."""
    event = _EVENT.fullmatch(question)
    if not event or _POINTS_BACK.search(event["subject"]) or not words(event["subject"]):
        return None
    return event["subject"]


# "Who are the people in this story?", "Which people are mentioned?", "Who is named in the article
# about Heathrow?", "List the people": the people the article introduces. The model listed some of
# them with "senior Ukrainian official from the president's office", and its check declined that.
# Not "Who are the people killed?" nor "Which people were evacuated?", facts.
_PEOPLE = re.compile(
    r"\s*(?:(?:who|which people) (?:is|are|was|were|gets?) (?:mentioned|named|quoted|involved)"
    r"|who (?:are|were) the (?:main |key )?(?:people|persons|players|figures|names)"
    r"|(?:list|name) (?:all )?(?:of )?the (?:people|persons|names))"
    rf"(?: (?:in|of|from|mentioned in|named in) (?:it|{_ARTICLE}\b.*))?[\s?.!]*", re.IGNORECASE)


def article_request(question: str) -> str | None:
    """"date", "summary", "more", "event" or "people" for a request about an article as a whole,
    else None (a question)."""
    if DATE_REQUEST.search(question):
        return "date"
    if _MORE.fullmatch(question):
        return "more"
    if _PEOPLE.fullmatch(question):
        return "people"
    if event_subject(question):
        return "event"
    return "summary" if SUMMARY_REQUEST.search(question) else None


def request_topic(question: str) -> set[str]:
    """The words of a request about an article that say which article: {"ardval", "librari"}."""
    return words(question) - words(_REQUEST_WORDS)


def asked_words(question: str) -> set[str]:
    """The question's words that its passages should repeat (stopwords aside).

    The word naming the answer's kind ("which country", "what kind of outlet") is left out: the
    passage states the answer ("US officials"), not its kind.
    """
    return words(question) - words(" ".join(m.group() for m in _ANSWER_KIND.finditer(question)))


def points_back(question: str) -> bool:
    """Whether the question leans on the conversation before it: a word that points back ("How old
    is she?", "What did Zelensky say about it?") or just a few words ("Who won?")."""
    return bool(_POINTS_BACK.search(question)) or len(_QUESTION_WORD.findall(question)) <= 3


_PERSON = re.compile(r"\b(?:he|she|him|his)\b", re.IGNORECASE)
# A person as an answer names one: "Defence Minister Rustem Umerov", "Nadia Kovacs", "JD Vance".
_NAME = re.compile(r"[A-Z][\w'’.-]*(?: (?:[A-Z][\w'’.-]*|of|de|van|von|al|bin))*")
# Questions whose answer is a person: "Who ...?", "Which candidate ...?", "Which South Korean president ...?".
_ASKS_FOR_PERSON = re.compile(
    r"\s*(?:who\b|which (?:[\w'’-]+ ){0,3}?(?:president|candidate|leader|minister|player|coach|manager|captain|"
    r"driver|rider|runner|athlete|champion|winner|judge|official|executive|chairman|chairwoman|mayor|governor|"
    r"author|writer|actor|actress|singer|artist|scientist|politician|man|woman|person)\b)", re.IGNORECASE)


def named_person(question: str, history: Sequence[Message], people: Collection[str]) -> str:
    """"What did he say?" after "Who is Umerov?" answered "Defence Minister Rustem Umerov [1]."
    asked as "What did Defence Minister Rustem Umerov say?". Shown the conversation, the model took
    "he" for Trump, named in a passage, and the answer check, which sees the question alone,
    confirmed it. After a question for a person ("Who ...?", "Which candidate ...?") answered with
    a name ("Keith Whitaker, a digger driver" gives "Keith Whitaker"), "he" is that name; after a
    question that named a person, one of `people` (the surnames the articles introduce), its first,
    its subject: "Who is he?" after "What did Umerov call the next step?" (the model: "Vance"),
    "What did he hope for?" after "Who did Trump say he would call besides Putin?" answered with
    two names. Only in a question that names no one else "he" could be, and that speaks of one
    person ("When will he meet him?" is left to the model); after a "Where ...?" a name is a place."""
    pronouns = {p.lower() for p in _PERSON.findall(question)} - {"his"}
    if len(history) < 2 or not _PERSON.search(question) or len(pronouns) > 1 or names_its_subject(question):
        return question  # "Who else did Trump say he would call?": Trump
    last, said = history[-2]["content"], strip_markers(history[-1]["content"])
    name = said.split(",")[0].strip(" .")
    if not (_ASKS_FOR_PERSON.match(last) and _NAME.fullmatch(name)):
        first = _QUESTION_WORD.search(last)  # "What", "Who": capitalised, no name
        named = [re.sub(r"['’]s$", "", m[0]) for m in _NAME.finditer(last, first.end() if first else 0)]
        persons = [name for name in named if name.split()[-1].lower() in people]
        if not persons or (_ASKS_FOR_PERSON.match(last) and is_refusal(said)):  # `unanswered_person`
            return question
        name = persons[0]
    return _PERSON.sub(lambda m: f"{name}'s" if m[0].lower() == "his" else name, question)


# "And the Conservatives?", "What about Zelensky?": the last question asked again of something else.
# Not "And whose spokesman described it?" or "And which company had chartered it?", questions.
_AND_ABOUT = re.compile(r"\s*(?:and|what about|how about)\s+(?P<subject>(?:[\w'’.-]+ ?){1,4}?)[\s?.!]*",
                        re.IGNORECASE)
_ASKING = re.compile(r"\b(?:who|whom|whose|what|which|when|where|why|how)\b", re.IGNORECASE)


def asked_again_of(question: str, history: Sequence[Message]) -> str:
    """"And the Conservatives?" after "How many seats did Labour win?" asked as "How many seats did
    the Conservatives win?": alone it names nothing to search for or to check the answer against.
    Only when the last question names one thing (a run of capitalised words after its first) and
    the new one something that does not point back ("And then?")."""
    again = _AND_ABOUT.fullmatch(question)
    if (not again or _ASKING.search(again["subject"]) or _POINTS_BACK.search(again["subject"])
            or not words(again["subject"]) or len(history) < 2 or history[-2]["role"] != "user"):
        return question  # "And then?", "What about him?" point back
    last = asked_again_of(history[-2]["content"], history[:-2])  # "And the Greens?" after "And the Conservatives?"
    first = _QUESTION_WORD.search(last)  # "How", "Who": capitalised, no name
    names = list(_NAME.finditer(last, first.end() if first else 0))
    if len(names) != 1:
        return question
    start, end = names[0].span()
    if last[:start].endswith("the "):  # "did Reform UK win?" after "did the Conservatives win?"
        start -= 4
    return last[:start] + again["subject"] + last[end:]


def unanswered_person(question: str, history: Sequence[Message]) -> str | None:
    """The "he" of "How old is he?" after "Who won the Indonesian election?" went unanswered: no one
    to ask about. Searched with the question before, the model answered for another article's
    person ("What share of the vote did he get?": South Korea's winner's, confirmed at 0.95). So
    after "How old is he?" declined for that reason."""
    pronoun = _PERSON.search(question)
    if not pronoun or len(history) < 2 or not is_refusal(history[-1]["content"]) or names_its_subject(question):
        return None
    last = history[-2]["content"]
    return pronoun[0] if _ASKS_FOR_PERSON.match(last) or unanswered_person(last, history[:-2]) else None


def names_its_subject(question: str) -> bool:
    """Whether the question names something of its own: a capitalised word after its first (not "I")."""
    return any(word[0].isupper() and word != "I" for word in _QUESTION_WORD.findall(question)[1:])


def answers_the_kind(question: str, answer: str) -> bool:
    """False when the question asks for a count, a level or a name and the answer holds none.

    A percentage is a share, not a count ("78%" of members voting is not how many did). A level
    is not the step that reached it ("25 basis points" for the level a bank raised its rate to). A name
    is a capitalised word the question doesn't have, wanted by "who" and "the name of" ("aged 19
    and 24" names nobody). "Which firm" wants one, or a number ("5th seed"), when the answer
    repeats "firm": "The original construction firm" describes the answer instead of giving it,
    while "Bilateral trade" for "which topic" is one.
    """
    answer = strip_markers(answer)
    if _COUNT_QUESTION.search(question):
        return bool(_COUNT.search(_PERCENTAGE.sub("", answer)))
    if _LEVEL_QUESTION.search(question):
        return bool(_COUNT.search(_STEP.sub("", answer)))
    wants_name, which = _NAME_QUESTION.search(question), _WHICH.search(question)
    if wants_name or (which and words(which[1]) & words(answer)):
        named = [w for w in _QUESTION_WORD.findall(answer) if w[0].isupper() or (not wants_name and w[0].isdigit())]
        return bool(words(" ".join(named)) - words(question))
    return True


_WHO_IS = re.compile(r"\s*(?i:who(?:'s| is| (was))) ([A-Z][\w'’.-]*(?: [A-Z][\w'’.-]*){0,3})\s*\??\s*")


def role_question(question: str) -> str:
    """"Who is Umerov?" asked as "What is Umerov's job or title?", what a news article says of a
    person. Asked who someone is, the model repeats the name ("Rustem Umerov [1].") or declines: over
    31 people of four evaluation corpora a role came back for 14, asked for the job or title for 27."""
    named = _WHO_IS.fullmatch(question)
    return f"What {named[1] or 'is'} {named[2]}'s job or title?" if named else question


def answer_form(question: str) -> Callable[[str], bool] | None:
    """What a passage must hold to answer the question: a number for "how many" or "by what
    percentage", a date for "when" or "on what date"; None when any passage might."""
    if _NUMBER_QUESTION.search(question):
        return lambda text: bool(_COUNT.search(text))
    if _DATE_QUESTION.search(question):
        return lambda text: bool(_DATED.search(text))
    return None


def _spells(part: str, word: str) -> bool:
    return word.startswith(part) or (part.startswith(word) and len(word) >= max(4, len(part) - 2))


def _is_name(word: str, after: str) -> bool:
    """A capitalised word an article must repeat: not a calendar word, a short acronym ("US" and
    "UK" are often written out) or an adjective of nationality before a noun ("European leaders")."""
    if not word[0].isupper() or (word.isupper() and len(word) <= 3) or word.lower() in _CALENDAR:
        return False
    return not (_NATIONALITY.search(word) and not after[:1].isupper())


def asked_ranks(question: str) -> list[str]:
    """The question's ranks ("who finished second", "the first case", "the most visited"), not
    an ordinal said of when something happened ("first introduced", "first spotted") nor a
    fraction ("only a third of the vote")."""
    tokens = [w.lower() for w in _QUESTION_WORD.findall(question)]
    return [w for before, w, after in zip(["", *tokens], tokens, [*tokens[1:], ""])
            if w in _RANKS and not (w in _ORDINALS and after.endswith("ed"))
            and not (before in ("a", "one") and w not in ("first", "second"))]  # "a second term" is one


def _says_rank(rank: str, after: str, word: str) -> bool:
    """Whether an article's word says the question's rank: the rank itself, or for "the most
    youthful" a superlative of the same root ("youngest")."""
    return _spells(rank, word) or (rank == "most" and word.endswith("est") and word[:3] == after[:3])


def absent_terms(question: str, articles: str) -> list[str]:
    """The question's names, ordinals and superlatives that the articles lack.

    Names are capitalised words after the question's first (`_is_name`). A name counts as present
    when each of its parts starts a word of the articles ("Europe" is in "European") or nearly is
    one ("Zelenskyy" for "Zelensky"). Ranks ("who finished second", "the first case", "the most
    visited") pin a question to one fact: articles that never use the word give a neighbouring
    fact, not that one. "The most youthful" is also said as a superlative of its root ("youngest").
    """
    known = set(_WORD.findall(articles.lower()))
    tokens = _QUESTION_WORD.findall(question)
    pairs = list(zip(tokens, [*tokens[1:], ""]))  # each word with the next
    following = {word.lower(): after.lower() for word, after in pairs}
    missing = [rank for rank in asked_ranks(question) if not any(_says_rank(rank, following[rank], k) for k in known)]
    for i, (word, after) in enumerate(pairs):
        if i > 0 and _is_name(word, after):  # the first word is capitalised as the sentence's start
            parts = _WORD.findall(re.sub(r"['’]s$", "", word).lower())
            if not all(any(_spells(part, k) for k in known) for part in parts):
                missing.append(word)
    return missing


def unmentioned(question: str, articles: str) -> list[tuple[str, str | None]]:
    """The question's names that the articles lack, as the question writes them ("Tavira Bay"), each
    with the nearest name the articles have when it looks misspelt ("Umerv": "Umerov")."""
    missing = {re.sub(r"['’]s$", "", w) for w in absent_terms(question, articles) if w[:1].isupper()}
    if not missing:
        return []
    rest = "".join(question.split(None, 1)[1:])  # its first word is no name
    names = set(_CAPITALISED.findall(articles))
    found: list[tuple[str, str | None]] = []
    for run in re.findall(r"[A-Z][\w'’-]*(?: [A-Z][\w'’-]*)*", rest):
        run = re.sub(r"['’]s\b", "", run)
        if missing & set(run.split()):
            near = [] if " " in run else difflib.get_close_matches(run, names, 1, 0.75)
            found.append((run, near[0] if near else None))
    return found


def _as_ordinal(word: str) -> str:
    return "first" if word == "opening" else word  # "its opening day" is its first day


def asked_periods(question: str) -> list[tuple[str, str]]:
    """The ordinal periods the question pins ("its first week", "on its opening day", "the third
    stage", "first-round votes") as (ordinal, period) pairs."""
    tokens = [_as_ordinal(w) for w in _WORD.findall(question.lower())]
    return [(w, after) for w, after in zip(tokens, tokens[1:]) if w in _ORDINALS and after in _PERIODS]


def states_the_specifics(question: str, evidence: str) -> bool:
    """False when the question pins its answer to a year or an ordinal ("revenue in 2021", "who
    finished second", "its first week") that the cited passages don't state: a figure from the
    same story at another time, or another place's, is the usual wrong answer. An ordinal period
    must be stated as one: "its first week" is not in a passage about "its first day" and "the
    first year", and a word or two may come between ("its first full week"). The passages count as the
    model read them, "last year (2024)" dated, with their article's date. Months are left out
    ("since January" is often "since the start of the year"), and so are "most" and "least",
    which are amounts as often as ranks ("the most universities can charge" is their maximum)."""
    ordinals = set(asked_ranks(question)) & _ORDINALS
    said = _WORD.findall(evidence.lower())
    return (ordinals <= set(said) and all(year in evidence for year in _YEAR.findall(question))
            and set(asked_periods(question)) <= set(_stated_periods(said)))


def _stated_periods(words: list[str]) -> Iterator[tuple[str, str]]:
    """(ordinal, period) pairs in a text's words: the first period within three words of an
    ordinal ("its first full week", "the seventh and deciding game"; not "the first day of the week")."""
    for i, word in enumerate(map(_as_ordinal, words)):
        if word in _ORDINALS:
            period = next((w for w in words[i + 1 : i + 4] if w in _PERIODS), None)
            if period:
                yield word, period


def says_nothing_new(answer: str, said: str) -> bool:
    """Whether the answer is made only of words already said: "Alaska" after "In which Alaskan
    city ...?" (a stem of four letters or more may begin a word said)."""
    given, known = words(strip_markers(answer)), words(said)
    return bool(given) and not is_refusal(answer) and all(
        word in known or (len(word) >= 4 and any(k.startswith(word) for k in known)) for word in given)


def misses_the_question(question: str, answer: str, evidence: str) -> bool:
    """A supported answer that is not what was asked for (`answers_the_kind`, `states_the_specifics`),
    or only the question's own words, unless the question offers a choice ("Labour or the
    Conservatives?")."""
    return (not answers_the_kind(question, answer) or not states_the_specifics(question, evidence)
            or (says_nothing_new(answer, question) and not _CHOICE.search(question)))


def gives_what_is_set_aside(question: str, answer: str, history: Sequence[Message] = (),
                            asked_before: str = "") -> bool:
    """Whether the answer is what the question sets aside: "Besides Zelensky, who did Trump say he
    would speak to?" answered "Ukrainian President Volodymyr Zelensky"; or, in a follow-up, only
    what the conversation already said ("Who chairs it?" after "The Swiss National Bank" answered
    "The Swiss National Bank"); or, for a question asked again of something else (`asked_again_of`),
    what the question `asked_before` was about ("What did easyJet say about fares?" answered with
    Ryanair's, which "What did Ryanair say about fares?" had been; "1,000" for Ukraine as for
    Russia names neither)."""
    given = words(strip_markers(answer))
    asides = [words(m[1]) for m in _SET_ASIDE.finditer(question)]
    asides += [words(asked_before) - words(question)] if asked_before else []
    if any(aside and aside <= given for aside in asides):
        return True
    return says_nothing_new(answer, " ".join(strip_markers(m["content"]) for m in history))


def needs_clear_yes(question: str) -> bool:
    """Whether the answer check must clearly confirm the answer (`Settings.hesitant_confirmation`)
    even when the model did not hesitate: the question asks for a figure ("how many", "how long",
    "what percentage"). Its usual wrong answer is the true figure of a neighbouring thing (May's
    output rise for June's, the flights a closure hit for its passengers), which the check confirms
    at 0.7-0.8 about as often as a right one; above 0.8 mostly right ones (eval/HISTORY.md). So is
    a reason ("Why did Sunak apologise?"): any sentence of a passage on the story reads as one
    (Starmer's promise to "rebuild Britain", confirmed at 0.74)."""
    return bool(_NUMBER_QUESTION.search(question) or _WHY.match(question))


def is_hesitant(question: str, evidence: str, refusal_probability: float, doubt: float) -> bool:
    """The model gave the refusal at least `doubt` while writing the answer, and its passages are
    a near miss: they lack more than a fifth of the question's words and more than one (a single
    word is often just said otherwise, "call" for "said", whatever the question's length)."""
    asked = asked_words(question)
    missing = asked - words(evidence)
    return refusal_probability >= doubt and len(missing) > max(1, (1 - CLOSE_MATCH) * len(asked))


def check_citations(raw: str, question: str, passages: Sequence[Passage]) -> tuple[str, list[int]]:
    """The answer with only supported markers, and the passage numbers it cites; REFUSAL if none."""
    if is_refusal(raw):
        return REFUSAL, []
    rendered = {p.n: passage_evidence(p) for p in passages}
    article = {p.n: p.chunk.doc_id for p in passages}
    kept: list[str] = []
    cited: list[int] = []
    for sentence in _SENTENCE_END.split(raw.strip()):
        claim, numbers = parse_markers(sentence)
        if not claim:
            continue
        scores = {n: support(claim, question, text) for n, text in rendered.items()}
        # Of equally supporting passages, one of the article the model cited: "19 months" is as
        # well supported by another article's "three months", dated the 19th.
        read = {article[n] for n in numbers if n in article}
        best = max(scores, key=lambda n: (scores[n], article[n] in read), default=None)
        top = scores[best] if best is not None else 0.0
        good = [n for n in numbers if scores.get(n, 0.0) >= max(MIN_SUPPORT, top - SUPPORT_MARGIN)]
        if not good and top >= MIN_SUPPORT:
            good = [best]
        if good:
            body, stop = (claim[:-1], claim[-1]) if claim[-1] in ".!?" else (claim, "")
            kept.append(f"{body} {''.join(f'[{n}]' for n in good)}{stop}")
            cited += [n for n in good if n not in cited]
    if not kept:
        return REFUSAL, []
    return " ".join(kept), cited
