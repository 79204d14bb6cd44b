"""Stage 4: the vector index on disk, kept in step with the corpus folder.

Layout of an index folder:
    manifest.json          the commit point: embedding model, dimension, generation, and per
                           corpus file its sha256 (plus size and mtime, to skip re-hashing)
    chunks-<gen>.jsonl     chunk metadata and text, one per line, in vector order
    vectors-<gen>.faiss    normalised embeddings, inner-product FAISS index
Writes go to new generation files first and the manifest is replaced last (os.replace is
atomic), so a crash mid-write leaves the previous generation usable. A file lock keeps two
processes from syncing the same folder at once; the second waits, then finds nothing to do.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path

import faiss
import numpy as np
from filelock import FileLock
from tqdm import tqdm

from rag import embedding
from rag.articles import corpus_files, file_hash, load_file
from rag.chunking import RULES_KEY, Chunk, chunk_article, sentence_spans

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
LOCK_TIMEOUT_S = 600
# Exact search over up to this many chunks stays under ~10 ms on two cores; above it, HNSW
# (graph search; `python -m rag.bench --scale` measures its recall against exact search).
HNSW_MIN_CHUNKS = 50_000


class UnusableIndexError(RuntimeError):
    """The index on disk can't be used (it is rebuilt from the corpus when that happens)."""


@dataclass
class FileRecord:
    sha256: str
    size: int
    mtime_ns: int


@dataclass
class Manifest:
    embedding_model: str
    dimension: int
    chunking: str  # chunking parameters; a change means re-chunking everything
    generation: int = 0
    files: dict[str, FileRecord] = field(default_factory=dict)


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # added or changed, but unreadable: no chunks
    rebuilt_because: str | None = None

    @property
    def touched(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.rebuilt_because)


_WORD = re.compile(r"[^\W\d_][\w-]*")  # a word as `Index.names` counts it: letters first, no digits
# A person as the articles introduce one: after a title or a role ("President Putin", "Defence
# Minister Rustem Umerov", "said spokesman Dmitry Peskov", "striker Zara Mensah"), or with an age
# ("Nadia Kovacs, 44,", "Seventeen-year-old Elodie Varga"). Its group is the name, its last word
# without an "'s".
_SURNAME = r"((?:[A-Z][\w'’-]* )*[A-Z][\w-]*)"
_PERSON_CUE = re.compile(
    r"\b(?:President|Minister|Chancellor|Secretary|Senator|Governor|Mayor|Judge|Justice|King|Queen|Prince|"
    r"Princess|Pope|General|Colonel|Captain|Sir|Dame|Lord|Lady|Mr|Mrs|Ms|Miss|Dr|Professor|Sheikh|Archbishop|"
    r"Bishop|Speaker|Commissioner|Inspector|Sergeant|Detective|Councillor|Ambassador|Chairman|spokes(?:man|woman|"
    r"person)|coach|manager|striker|midfielder|defender|goalkeeper|captain|driver|rider|chair(?:man|woman)|"
    r"executive|director|founder|officer|journalist|lawyer|adviser|leader|minister|president|secretary|councillor|"
    r"candidate|head|actor|actress|singer|author|writer|player|champion|scientist|professor|doctor|economist|"
    rf"analyst|commander|chief)\.? {_SURNAME}|{_SURNAME}, (?:aged )?\d{{1,3}},"
    r"|\w+-year-old ((?:[A-Z][\w'’-]* )+[A-Z][\w-]*)")  # two words: not "a 25-year-old American"


def introduced_people(text: str) -> list[str]:
    """The names of the people a text introduces (`_PERSON_CUE`), in order: "Donald Trump" of
    "US President Donald Trump", "Nadia Kovacs" of "Nadia Kovacs, 44,"."""
    return [m[m.lastindex] for m in _PERSON_CUE.finditer(text)]


@dataclass
class Index:
    manifest: Manifest
    chunks: list[Chunk]
    vectors: faiss.Index

    def __post_init__(self) -> None:
        if self.vectors.ntotal != len(self.chunks):
            raise UnusableIndexError(f"{self.vectors.ntotal} vectors for {len(self.chunks)} chunks")

    def search(self, query: np.ndarray, k: int, within: Sequence[int] | None = None) -> list[tuple[int, float]]:
        """(chunk position, cosine similarity) of the k nearest chunks, best first; only among
        the positions `within` when given (`positions`), scored exactly there."""
        if within is not None:
            scores = self.vectors.reconstruct_batch(np.asarray(within, dtype=np.int64)) @ query
            return sorted(zip(within, map(float, scores)), key=lambda hit: hit[1], reverse=True)[:k]
        if not self.chunks:
            return []
        scores, ids = self.vectors.search(query.reshape(1, -1).astype(np.float32), min(k, len(self.chunks)))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def positions(self, doc_ids: Collection[str]) -> list[int]:
        """The chunk positions of these articles; an id the index doesn't hold is a ValueError."""
        unknown = [d for d in doc_ids if d not in self._positions_by_article]
        if unknown:
            example = next(iter(self._positions_by_article), "file.txt")
            raise ValueError(f"No article {', '.join(map(repr, unknown))} in the corpus: name an article "
                             f"by its file, relative to the corpus folder (e.g. {example!r}).")
        return sorted(i for d in doc_ids for i in self._positions_by_article[d])

    @property
    def doc_ids(self) -> list[str]:
        """The indexed articles, each once, in index order."""
        return list(self._positions_by_article)

    @cached_property
    def _positions_by_article(self) -> dict[str, list[int]]:
        positions: dict[str, list[int]] = {}
        for i, chunk in enumerate(self.chunks):
            positions.setdefault(chunk.doc_id, []).append(i)
        return positions

    @cached_property
    def names(self) -> dict[str, str]:
        """The words the articles only ever write with a capital, by their lower case: {"umerov":
        "Umerov", "nato": "NATO"}; a question typed in lower case gets its names back from them."""
        capitalised: dict[str, str] = {}
        lower: set[str] = set()
        for chunk in self.chunks:
            for found in _WORD.finditer(chunk.text):
                word, before = found[0], chunk.text[max(0, found.start() - 3) : found.start()].strip()
                if word[0].islower():
                    lower.add(word)
                elif before and before[-1] not in ".!?\"“‘'-":  # a sentence's first word may be any word
                    capitalised.setdefault(word.lower(), word)
        return {key: word for key, word in capitalised.items() if key not in lower}

    @cached_property
    def people(self) -> set[str]:
        """The surnames of the people the articles introduce (`_PERSON_CUE`), in lower case: {"umerov",
        "putin", "kovacs"}, so that "he" after a question on Umerov can be told from one on Ukraine.
        Only words the articles always capitalise (`names`), not initials or acronyms: not "The" of
        "President The ...", "J" of "Judge J. Smith" or "UK" of "Reform UK leader"."""
        found = (name.split()[-1].lower() for chunk in self.chunks for name in introduced_people(chunk.text))
        return {surname for surname in found
                if len(surname) > 1 and surname in self.names and not self.names[surname].isupper()}

    def people_of(self, doc_id: str) -> list[tuple[str, Chunk]]:
        """The people an article introduces (`people`), in order, each by the fullest name it gives
        them ("Vladimir Putin" of "Russia's Vladimir Putin", though introduced as "President Putin")
        with its first chunk naming them."""
        chunks = self.article_chunks(doc_id)
        text = "\n".join(chunk.text for chunk in chunks)
        introduced: dict[str, str] = {}  # by surname, the longest name a cue gives
        for name in introduced_people(text):
            surname = name.split()[-1]
            if surname.lower() in self.people:
                introduced[surname] = max(introduced.get(surname, ""), name, key=len)
        people = []
        for surname, name in introduced.items():
            mention = re.compile(rf"\b{re.escape(surname)}\b")
            given = [f"{before} {surname}" for before in re.findall(rf"\b([A-Z][\w-]+) {re.escape(surname)}\b", text)
                     if before.lower() in self.names  # not "After Putin spoke"
                     and not _PERSON_CUE.fullmatch(f"{before} {surname}")]  # nor "President Putin"
            first = next(c for c in chunks if mention.search(c.text))
            people.append((mention.search(text).start(), max([name, *given], key=len), first))
        return [(name, chunk) for _, name, chunk in sorted(people, key=lambda person: person[0])]

    def finished(self, chunk: Chunk) -> Chunk:
        """The chunk carried on to its last sentence's end. A sentence longer than a chunk (many a
        lede: 100 of the nine corpora's 761) is cut at a space (`chunking`), and a reply quoting
        the chunk alone would stop mid-sentence ("... plunging the euro zone's second-largest
        economy deeper into")."""
        for after in self.article_chunks(chunk.doc_id):
            if chunk.text[-1] in ".!?\"'”’)":
                break
            if after.end > chunk.end:  # the rest of the sentence, up to its end
                rest = (after.text[chunk.end - after.start :] if after.start <= chunk.end
                        else " " * (after.start - chunk.end) + after.text)  # the space the cut took
                joined = chunk.text + rest
                end = next(e for _, e in sentence_spans(joined) if e > len(chunk.text))
                chunk = replace(chunk, text=joined[:end], end=chunk.start + end)
        return chunk

    def truecased(self, question: str) -> str:
        """"who is keir starmer" as "who is Keir Starmer": a question typed all in lower case gets
        the articles' capitals back (`names`), so that the rules reading names (who someone is,
        whether a question names its subject) read its names too."""
        if question != question.lower():
            return question
        return _WORD.sub(lambda word: self.names.get(word[0], word[0]), question)

    def article_chunks(self, doc_id: str) -> list[Chunk]:
        """An article's chunks in reading order, its opening first; an unknown id is a ValueError."""
        return [self.chunks[i] for i in self.positions([doc_id])]

    def article_text(self, doc_id: str) -> str:
        """An article's title and text, from its chunks (their overlaps repeated); "" if unknown."""
        chunks = self.article_chunks(doc_id) if doc_id in self._positions_by_article else []
        return "\n".join([chunks[0].title, *(c.text for c in chunks)]) if chunks else ""


# --- persistence -------------------------------------------------------------------------


def _chunk_to_json(chunk: Chunk) -> str:
    record = asdict(chunk)
    record["date"] = chunk.date.isoformat() if chunk.date else None
    return json.dumps(record, ensure_ascii=False)


def _chunk_from_json(line: str) -> Chunk:
    record = json.loads(line)
    record["date"] = dt.date.fromisoformat(record["date"]) if record["date"] else None
    return Chunk(**record)


def _paths(index_dir: Path, generation: int) -> tuple[Path, Path]:
    return index_dir / f"chunks-{generation}.jsonl", index_dir / f"vectors-{generation}.faiss"


def load(index_dir: Path) -> Index:
    """The index saved in `index_dir`; UnusableIndexError if it is missing or damaged."""
    try:
        raw = json.loads((index_dir / MANIFEST).read_text())
        raw["files"] = {k: FileRecord(**v) for k, v in raw["files"].items()}
        manifest = Manifest(**raw)
        chunks_path, vectors_path = _paths(index_dir, manifest.generation)
        with chunks_path.open(encoding="utf-8") as f:
            chunks = [_chunk_from_json(line) for line in f]
        # Memory-mapped: a large flat index is paged in by search, not copied at load.
        vectors = faiss.read_index(str(vectors_path), faiss.IO_FLAG_MMAP)
        if vectors.d != manifest.dimension:
            raise UnusableIndexError(f"vectors have dimension {vectors.d}, manifest says {manifest.dimension}")
        return Index(manifest, chunks, vectors)
    except FileNotFoundError as exc:
        raise UnusableIndexError(f"missing {Path(exc.filename or '?').name}") from exc
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise UnusableIndexError(f"damaged ({exc})") from exc


def save(index: Index, index_dir: Path) -> None:
    index_dir.mkdir(parents=True, exist_ok=True)
    old_generation = index.manifest.generation
    index.manifest.generation += 1
    chunks_path, vectors_path = _paths(index_dir, index.manifest.generation)
    with chunks_path.open("w", encoding="utf-8") as f:
        f.writelines(_chunk_to_json(c) + "\n" for c in index.chunks)
        f.flush()
        os.fsync(f.fileno())
    faiss.write_index(index.vectors, str(vectors_path))
    tmp = index_dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(asdict(index.manifest), indent=1))
    os.replace(tmp, index_dir / MANIFEST)  # the commit point
    for stale in _paths(index_dir, old_generation):
        stale.unlink(missing_ok=True)


# --- keeping the index in step with the corpus ---------------------------------------------


def _empty(chunking: str) -> Index:
    manifest = Manifest(embedding.MODEL_NAME, embedding.DIMENSION, chunking)
    return Index(manifest, [], new_vector_index(0))


def new_vector_index(size: int) -> faiss.Index:
    """Exact inner-product search for small corpora, an HNSW graph for large ones."""
    if size < HNSW_MIN_CHUNKS:
        return faiss.IndexFlatIP(embedding.DIMENSION)
    graph = faiss.IndexHNSWFlat(embedding.DIMENSION, 32, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = 80
    # Measured on 240k chunks: recall@10 0.89 at 64, 0.96 at 128 (0.8 ms), 0.996 at 256 (1.3 ms)
    graph.hnsw.efSearch = 128
    return graph


def exact_copy(vectors: faiss.Index) -> faiss.Index:
    """The same vectors under exact search (itself if it is exact already), to measure recall."""
    if isinstance(vectors, faiss.IndexFlat):
        return vectors
    flat = faiss.IndexFlatIP(vectors.d)
    flat.add(vectors.reconstruct_n(0, vectors.ntotal))
    return flat


def _record(path: Path, known: FileRecord | None) -> FileRecord:
    stat = path.stat()
    if known and known.size == stat.st_size and known.mtime_ns == stat.st_mtime_ns:
        return known  # unchanged size and mtime: skip re-hashing
    return FileRecord(file_hash(path), stat.st_size, stat.st_mtime_ns)


def _generation_on_disk(index_dir: Path) -> int | None:
    try:
        return int(json.loads((index_dir / MANIFEST).read_text())["generation"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def sync(corpus_dir: Path, index_dir: Path, *, max_chars: int, overlap: int, progress: bool = True,
         loaded: Index | None = None) -> tuple[Index, SyncReport]:
    """Load the index and bring it up to date with the corpus: only changed files are embedded.

    `loaded` is this process's copy, reused when no other process has written a newer one, so a
    check before every question costs a directory listing, not an index load.
    """
    chunking = f"sentences max_chars={max_chars} overlap={overlap} titled rules={RULES_KEY}"
    index_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(index_dir / ".lock"), timeout=LOCK_TIMEOUT_S):
        report = SyncReport()
        try:
            fresh = loaded is not None and _generation_on_disk(index_dir) == loaded.manifest.generation
            index = loaded if loaded is not None and fresh else load(index_dir)
            wanted = (embedding.MODEL_NAME, embedding.DIMENSION, chunking)
            if (index.manifest.embedding_model, index.manifest.dimension, index.manifest.chunking) != wanted:
                report.rebuilt_because = "made with other embedding or chunking settings"
                index = _empty(chunking)
        except UnusableIndexError as exc:
            if (index_dir / MANIFEST).exists():
                report.rebuilt_because = f"index {exc}"
                log.warning("Index in %s is unusable (%s); rebuilding from the corpus.", index_dir, exc)
            index = _empty(chunking)

        known = index.manifest.files
        current = {p.relative_to(corpus_dir).as_posix(): p for p in corpus_files(corpus_dir)}
        records = {rel: _record(path, known.get(rel)) for rel, path in current.items()}
        for rel, rec in records.items():
            if rel not in known:
                report.added.append(rel)
            elif known[rel].sha256 != rec.sha256:
                report.changed.append(rel)
        report.removed = [rel for rel in known if rel not in current]
        if not report.touched:
            if records != known:  # only mtimes moved; remember them to skip hashing next time
                index.manifest.files = records
                save(index, index_dir)
            return index, report

        stale = set(report.changed) | set(report.removed)
        keep = [i for i, c in enumerate(index.chunks) if c.source not in stale]
        kept_vectors = index.vectors.reconstruct_n(0, index.vectors.ntotal)[keep] if keep else None
        new_chunks: list[Chunk] = []
        for rel in report.added + report.changed:
            articles = load_file(current[rel], corpus_dir)
            if not articles:
                report.skipped.append(rel)  # load_file has logged why
            new_chunks += [chunk for article in articles for chunk in chunk_article(article, max_chars, overlap)]
        vectors = new_vector_index(len(keep) + len(new_chunks))
        if kept_vectors is not None:
            vectors.add(kept_vectors)
        batch = 256
        with tqdm(total=len(new_chunks), desc="Embedding chunks", unit="chunk", disable=not progress) as bar:
            for start in range(0, len(new_chunks), batch):
                part = new_chunks[start : start + batch]
                vectors.add(embedding.embed([c.indexed_text for c in part]))
                bar.update(len(part))
        index = Index(index.manifest, [index.chunks[i] for i in keep] + new_chunks, vectors)
        index.manifest.files = records
        save(index, index_dir)
        return index, report

