#!/usr/bin/env python3
"""Sanity checks for the holdout2 eval set (standard library only)."""
import collections
import datetime
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
TYPES = ("fact", "date", "paraphrase", "unanswerable")
errors = []

# --- corpus ---
docs = {}
weekdays = set()
for name in sorted(os.listdir(CORPUS)):
    if not name.endswith(".txt"):
        continue
    with open(os.path.join(CORPUS, name), encoding="utf-8") as f:
        text = f.read()
    docs[name[:-4]] = text
    if not re.fullmatch(r"\d{3}_[a-z0-9_]+\.txt", name):
        errors.append(f"bad file name: {name}")
    m = re.match(r" date (\d{4}-\d{2}-\d{2}) \S", text)
    if not m:
        errors.append(f"{name}: first line lacks ' date YYYY-MM-DD ' dateline")
    else:
        d = datetime.date.fromisoformat(m.group(1))
        weekdays.add(d.weekday())
        if not 2023 <= d.year <= 2026:
            errors.append(f"{name}: date outside 2023-2026")
    n = len(text.split())
    if not 350 <= n <= 700:
        errors.append(f"{name}: {n} words (want 350-700)")
if len(docs) != 60:
    errors.append(f"expected 60 articles, found {len(docs)}")
if len(weekdays) != 7:
    errors.append(f"only {len(weekdays)} weekdays represented")

# --- qa ---
with open(os.path.join(HERE, "qa.jsonl"), encoding="utf-8") as f:
    items = [json.loads(line) for line in f if line.strip()]
ids = [it.get("id") for it in items]
for i, dup in collections.Counter(ids).items():
    if dup > 1:
        errors.append(f"duplicate id {i}")
for it in items:
    i = it.get("id")
    if not re.fullmatch(r"holdout2-\d{3}", str(i)):
        errors.append(f"bad id {i}")
    t = it.get("type")
    if t not in TYPES:
        errors.append(f"{i}: bad type {t}")
    ans = it.get("answers")
    if not isinstance(ans, list) or any(a != a.lower() for a in ans):
        errors.append(f"{i}: answers must be a list of lowercase strings")
    if t == "unanswerable":
        if ans or "evidence" in it or "doc" in it:
            errors.append(f"{i}: unanswerable item should have answers [] and no evidence/doc")
        continue
    if not ans:
        errors.append(f"{i}: answerable item without answers")
    ev, doc = it.get("evidence", ""), it.get("doc", "")
    if not 15 <= len(ev) <= 120:
        errors.append(f"{i}: evidence length {len(ev)} not in 15-120")
    hits = [d for d, text in docs.items() if ev in text]
    if len(hits) != 1:
        errors.append(f"{i}: evidence found in {len(hits)} files {hits}")
    elif hits[0] != doc:
        errors.append(f"{i}: evidence is in {hits[0]}, not in doc {doc}")

counts = collections.Counter(it.get("type") for it in items)
print("articles:", len(docs), "| items:", len(items), "| unique ids:", len(set(ids)))
print("counts:", ", ".join(f"{t}={counts.get(t, 0)}" for t in TYPES))
if errors:
    print(f"{len(errors)} problem(s):")
    for e in errors:
        print("  -", e)
    sys.exit(1)
print("OK: all checks passed")
