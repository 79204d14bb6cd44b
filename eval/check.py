#!/usr/bin/env python3
"""Validate a question set written blind (holdout3 to holdout6): its corpus and QA file against
the brief it was written to. Standard library only.

Usage: python3 eval/check.py holdout3|holdout4|holdout5|holdout6   (run from anywhere)
Prints OK, or the list of problems and exits with status 1.
"""
import datetime
import json
import os
import re
import string
import sys
from collections import Counter
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))

NAME_RE = re.compile(r"^(\d{3})_[a-z0-9_]+\.txt$")
DATELINE_RE = re.compile(r"^ date (\d{4}-\d{2}-\d{2}) (?=\S)")
MIN_DATE, MAX_DATE = datetime.date(2023, 1, 1), datetime.date(2026, 10, 31)


@dataclass(frozen=True)
class Brief:
    """What a set's writer was asked for."""

    n_articles: int
    # (label, low, high, required count); a word count n falls in the first bin with low <= n <= high
    bins: list[tuple[str, int, int, int]]
    type_counts: dict[str, int]
    min_answerable_docs: int
    # holdout3: every accepted answer is in the evidence or its article. holdout4's answer lists
    # hold spelling variants ("1,200", "1200", "seven"/"7"): one of them in the evidence will do.
    every_answer_found: bool
    # holdout4: the first date answer is "D month YYYY", on the weekday the evidence names, within
    # a week of the article's dateline.
    dates_by_weekday: bool

    @property
    def n_questions(self) -> int:
        return sum(self.type_counts.values())


# holdout5 and holdout6 were written to the same brief, four helpers of 25 articles each.
WIRE_BINS = [("short", 150, 300, 32), ("medium", 301, 600, 40), ("long", 601, 1000, 28)]

BRIEFS = {
    "holdout3": Brief(60, [("short", 300, 450, 20), ("medium", 451, 700, 25), ("long", 701, 950, 15)],
                      {"fact": 30, "date": 12, "paraphrase": 20, "follow-up": 8, "unanswerable": 50}, 45,
                      every_answer_found=True, dates_by_weekday=False),
    "holdout4": Brief(120, [("short", 150, 300, 40), ("medium", 301, 600, 50), ("long", 601, 950, 30)],
                      {"fact": 30, "date": 12, "paraphrase": 20, "follow-up": 8, "unanswerable": 70}, 70,
                      every_answer_found=False, dates_by_weekday=True),
    "holdout5": Brief(100, WIRE_BINS,
                      {"fact": 26, "date": 12, "paraphrase": 16, "follow-up": 8, "unanswerable": 58}, 40,
                      every_answer_found=False, dates_by_weekday=True),
    "holdout6": Brief(100, WIRE_BINS,
                      {"fact": 24, "date": 12, "paraphrase": 17, "follow-up": 8, "unanswerable": 59}, 40,
                      every_answer_found=False, dates_by_weekday=True),
}

NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen twenty".split())}
PUNCT = set(string.punctuation) | set("\u2018\u2019\u201c\u201d\u2013\u2014\u00a3\u20ac\u00a0")


def normalise(text):
    """Lowercase, unify a few equivalent spellings, remove punctuation, collapse spaces."""
    t = text.lower()
    tens = "twenty thirty forty fifty sixty seventy eighty ninety".split()
    units = "one two three four five six seven eight nine".split()
    t = re.sub(r"\b(" + "|".join(tens) + r")[- ](" + "|".join(units) + r")\b",
               lambda m: str(20 + 10 * tens.index(m.group(1)) + units.index(m.group(2)) + 1), t)
    t = re.sub(r"\b(" + "|".join(tens) + r")\b", lambda m: str(20 + 10 * tens.index(m.group(1))), t)
    t = t.replace("%", " per cent").replace("percent", "per cent")
    t = re.sub(r"[£$€]", "", t)
    t = re.sub(r"(\d)\s?bn\b", r"\1 billion", t)
    t = re.sub(r"(\d)m\b", r"\1 million", t)
    t = "".join(ch for ch in t if ch not in PUNCT)
    t = re.sub(r"(\d)([a-z])", r"\1 \2", t)          # 142mm -> 142 mm, 20p -> 20 p
    t = " ".join(NUMBER_WORDS.get(w, w) for w in t.split())
    return " " + t + " "


def contains(haystack_norm, needle):
    n = normalise(needle).strip()
    return bool(n) and (" " + n + " ") in haystack_norm


def check_corpus(problems, brief, corpus):
    docs = {}
    if not os.path.isdir(corpus):
        problems.append(f"missing corpus directory {corpus}")
        return docs
    files = sorted(os.listdir(corpus))
    numbers = []
    weekdays = set()
    bin_counts = Counter()
    for fn in files:
        m = NAME_RE.match(fn)
        if not m:
            problems.append(f"bad file name: {fn}")
            continue
        numbers.append(int(m.group(1)))
        with open(os.path.join(corpus, fn), encoding="utf-8") as f:
            text = f.read()
        docs[fn[:-4]] = text
        dm = DATELINE_RE.match(text)
        if not dm:
            problems.append(f"{fn}: does not start with ' date YYYY-MM-DD ' followed by text")
            continue
        try:
            d = datetime.date.fromisoformat(dm.group(1))
        except ValueError:
            problems.append(f"{fn}: invalid date {dm.group(1)}")
            continue
        if not MIN_DATE <= d <= MAX_DATE:
            problems.append(f"{fn}: date {d} outside {MIN_DATE}..{MAX_DATE}")
        weekdays.add(d.weekday())
        body = text[dm.end():]
        n = len(body.split())
        for label, lo, hi, _ in brief.bins:
            if lo <= n <= hi:
                bin_counts[label] += 1
                break
        else:
            problems.append(f"{fn}: {n} words is outside every length range")
    if len(files) != brief.n_articles:
        problems.append(f"expected {brief.n_articles} articles, found {len(files)}")
    if sorted(numbers) != list(range(1, len(numbers) + 1)):
        problems.append("article numbers are not 001..N without gaps/duplicates")
    for label, lo, hi, want in brief.bins:
        if bin_counts[label] != want:
            problems.append(f"{label} articles ({lo}-{hi} words): {bin_counts[label]}, expected {want}")
    if len(weekdays) != 7:
        problems.append(f"datelines use only {len(weekdays)} distinct weekdays")
    return docs


def check_qa(problems, brief, qa, id_prefix, docs):
    if not os.path.exists(qa):
        problems.append(f"missing {qa}")
        return
    items = []
    with open(qa, encoding="utf-8") as f:
        for ln, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as e:
                problems.append(f"qa line {ln}: invalid JSON ({e})")
    n_questions = brief.n_questions
    if len(items) != n_questions:
        problems.append(f"expected {n_questions} questions, found {len(items)}")
    ids = [it.get("id") for it in items]
    if len(set(ids)) != len(ids):
        problems.append("duplicate ids")
    if set(ids) != {f"{id_prefix}-{i:03d}" for i in range(1, n_questions + 1)}:
        problems.append(f"ids are not exactly {id_prefix}-001..{id_prefix}-{n_questions:03d}")
    questions = [it.get("question", "").strip().lower() for it in items]
    for q, c in Counter(questions).items():
        if c > 1:
            problems.append(f"duplicate question: {q}")
    types = Counter(it.get("type") for it in items)
    for t, want in brief.type_counts.items():
        if types[t] != want:
            problems.append(f"type {t}: {types[t]} items, expected {want}")
    for t in types:
        if t not in brief.type_counts:
            problems.append(f"unknown type {t!r}")
    answer_docs = set()
    for it in items:
        iid, typ = it.get("id"), it.get("type")
        allowed = {"id", "question", "answers", "type", "evidence", "doc", "history"}
        extra = set(it) - allowed
        if extra:
            problems.append(f"{iid}: unexpected keys {sorted(extra)}")
        if not isinstance(it.get("question"), str) or not it["question"].strip():
            problems.append(f"{iid}: empty question")
        ans = it.get("answers")
        if not isinstance(ans, list) or not all(isinstance(a, str) for a in ans):
            problems.append(f"{iid}: answers must be a list of strings")
            continue
        for a in ans:
            if a != a.lower():
                problems.append(f"{iid}: answer not lowercase: {a!r}")
            if not 1 <= len(a.split()) <= 6:
                problems.append(f"{iid}: answer not 1-6 words: {a!r}")
        if len(set(ans)) != len(ans):
            problems.append(f"{iid}: duplicate answers")
        if typ == "follow-up":
            h = it.get("history")
            ok = (isinstance(h, list) and len(h) == 2
                  and isinstance(h[0], dict) and isinstance(h[1], dict)
                  and h[0].get("role") == "user" and h[1].get("role") == "assistant"
                  and all(isinstance(m.get("content"), str) and m["content"].strip() for m in h)
                  and set(h[0]) == {"role", "content"} and set(h[1]) == {"role", "content"})
            if not ok:
                problems.append(f"{iid}: follow-up needs history [user, assistant] with content")
        elif "history" in it:
            problems.append(f"{iid}: history only allowed for follow-up items")
        if typ == "unanswerable":
            if ans != []:
                problems.append(f"{iid}: unanswerable must have answers []")
            if it.get("evidence") or it.get("doc"):
                problems.append(f"{iid}: unanswerable must not have evidence/doc")
            continue
        if not ans:
            problems.append(f"{iid}: answerable item has no answers")
        doc, ev = it.get("doc"), it.get("evidence")
        if doc not in docs:
            problems.append(f"{iid}: doc {doc!r} not in corpus")
            continue
        answer_docs.add(doc)
        if not isinstance(ev, str) or not 15 <= len(ev) <= 120:
            problems.append(f"{iid}: evidence must be a 15-120 character string")
            continue
        if ev not in docs[doc]:
            problems.append(f"{iid}: evidence is not a verbatim substring of {doc}")
        if typ in ("fact", "paraphrase", "follow-up"):
            ev_n = normalise(ev)
            if brief.every_answer_found:
                doc_n = normalise(docs[doc])
                for a in ans:
                    if not (contains(ev_n, a) or contains(doc_n, a)):
                        problems.append(f"{iid}: answer {a!r} not found in evidence or doc {doc}")
            if not any(contains(ev_n, a) for a in ans):
                problems.append(f"{iid}: no answer appears in the evidence itself")
        if typ == "date":
            for a in ans:
                if not re.search(r"\b20(2[2-7])\b", a):
                    problems.append(f"{iid}: date answer without a plausible year: {a!r}")
            if not brief.dates_by_weekday:
                continue
            try:
                d = datetime.datetime.strptime(ans[0], "%d %B %Y").date()
            except (ValueError, IndexError):
                problems.append(f"{iid}: first date answer is not 'D month YYYY': {ans[:1]!r}")
                continue
            days = [w for w in ("monday", "tuesday", "wednesday", "thursday", "friday",
                                "saturday", "sunday") if w in ev.lower()]
            if days != [d.strftime("%A").lower()]:
                problems.append(f"{iid}: evidence names {days}, but {d} is a {d.strftime('%A')}")
            dm = DATELINE_RE.match(docs[doc])
            if dm and abs((d - datetime.date.fromisoformat(dm.group(1))).days) > 7:
                problems.append(f"{iid}: {d} is more than a week from the dateline {dm.group(1)}")
    if len(answer_docs) < brief.min_answerable_docs:
        problems.append(f"answerable questions cover {len(answer_docs)} articles, "
                        f"need >= {brief.min_answerable_docs}")


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in BRIEFS:
        sys.exit(f"usage: python3 eval/check.py {'|'.join(BRIEFS)}")
    name = sys.argv[1]
    brief, folder = BRIEFS[name], os.path.join(HERE, name)
    problems = []
    docs = check_corpus(problems, brief, os.path.join(folder, "corpus"))
    check_qa(problems, brief, os.path.join(folder, "qa.jsonl"), name, docs)
    if problems:
        print(f"{len(problems)} problem(s):")
        for p in problems:
            print(" -", p)
        sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()
