"""The :class:`Index` facade: open one or several index directories and query them as one.

An index directory holds shards of one kind (``sa``, a suffix array over tokens, or
``fm``, an FM-index over bytes; see :mod:`infgram.format`). Opening several directories
(``Index.open([a, b])``, or ``"a,b"`` wherever the command line takes an index) answers as
one index over all their shards, with documents numbered globally in the order given;
their tokenizers, token widths and kinds must match.

Each kind declares the operations it answers (:meth:`Index.supports`, and
``info()["operations"]``); asking another raises
:class:`~infgram.errors.UnsupportedOperationError` naming the kind that answers it.

>>> import tempfile, pathlib, infgram
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = infgram.build_from_documents(["a rose is a rose", "is it"], folder / "index", progress=False)
>>> index = infgram.Index.open(folder / "index")
>>> index.count("rose"), index.count("is"), index.count("")
(2, 2, 21)
>>> index.probability("a ", "r")
ProbabilityResult(prompt_count=2, count=2, probability=1.0)
>>> [(t.text, t.count) for t in index.next_tokens("is").tokens]
[(' ', 2)]
>>> index.infgram_probability("what is", " ")  # " is" is the longest suffix that occurs
InfgramProbabilityResult(suffix_length=3, prompt_count=1, count=1, probability=1.0)
>>> _ = infgram.build_from_documents(["a rose was red"], folder / "more", progress=False)
>>> both = infgram.Index.open([folder / "index", folder / "more"])
>>> both.count("rose"), both.num_documents, both.document(2).text
(3, 3, 'a rose was red')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import IndexFormatError, QueryError, UnsupportedOperationError
from ..format import HEADER_BYTES, directory_bytes, file_sha256, generation_of, read_header, read_manifest
from ..shards import OPERATIONS_OF_KIND, Shard, open_shard
from ..shards.residency import Residency
from ..shards.official import (
    OFFICIAL_KIND,
    is_official_directory,
    manifest_entries,
    official_tokenizer,
    open_official_directory,
)
from ..tokenizer import Tokenizer, tokenizer_from_manifest
from .attribution import attribute
from .budget import work_limit
from .corpus import Corpus
from .documents import documents, read_document
from .drafting import draft
from .encoding import Query
from .novelty import DEFAULT_MAX_N, creativity, novelty
from .options import Matching
from .results import (
    AttributionResult,
    CooccurrenceResult,
    CreativityResult,
    Document,
    DocumentsResult,
    DraftResult,
    NoveltyResult,
    SearchResult,
)
from .search import cooccurrence, parse_query, search
from .shardset import ShardSet

IndexLocation = str | Path | Sequence[str | Path]
"""An index directory, several of them, or a comma-separated string of them."""


def index_directories(location: IndexLocation) -> list[Path]:
    """The directories of an index location: a path, a list of paths, or ``"a,b,c"``.

    >>> [str(p) for p in index_directories("a,b")], [str(p) for p in index_directories(["x"])]
    (['a', 'b'], ['x'])
    """
    if isinstance(location, (str, Path)):
        parts = str(location).split(",") if isinstance(location, str) and "," in location else [location]
    else:
        parts = list(location)
    directories = [Path(part) for part in parts if str(part).strip()]
    if not directories:
        raise IndexFormatError(f"expected one or more index directories, found {location!r:.200}")
    return directories


def _open_official(directory: Path, tokenizer_spec: Any) -> tuple[dict[str, Any], Tokenizer, list[Shard]]:
    """An official infini-gram index, opened in place (see :mod:`infgram.shards.official`),
    with a manifest of ours describing it (never written)."""
    opened = open_official_directory(directory)
    tokenizer = official_tokenizer(opened, tokenizer_spec)
    manifest = {"format": OFFICIAL_KIND, "format_version": 4, "index_kind": OFFICIAL_KIND,
                "token_width": opened.token_width, "tokenizer": tokenizer.manifest_entry(),
                "num_documents": opened.num_documents, "num_tokens": opened.num_tokens, "shards": manifest_entries(opened),
                "official": {"num_shards": len(opened.shards), "metadata": all(s.has_metadata for s in opened.shards),
                             "adopted": bool(opened.sidecar)}}
    return manifest, tokenizer, list(opened.shards)


def _generation(directory: Path) -> int:
    """The generation of an index directory on disk (an official index never changes: 0)."""
    return 0 if is_official_directory(directory) else generation_of(read_manifest(directory))


def _open_directory(directory: Path, tokenizer_spec: Any = None) -> tuple[dict[str, Any], Tokenizer, list[Shard]]:
    if is_official_directory(directory):
        return _open_official(directory, tokenizer_spec)
    if tokenizer_spec is not None:
        raise QueryError(f"{directory} is an infgram index, which records its own tokenizer; open it without "
                         "tokenizer= (that is for official infini-gram indexes)")
    manifest = read_manifest(directory)
    tokenizer = tokenizer_from_manifest(manifest.get("tokenizer", {}), directory)
    if tokenizer.token_width != manifest.get("token_width"):
        raise IndexFormatError(f"the manifest's token width {manifest.get('token_width')!r:.40} does not match its "
                               f"tokenizer's ({tokenizer.token_width}); rebuild the index")
    kind = manifest["index_kind"]
    if kind == "fm":
        fm = manifest.get("fm")
        if tokenizer.kind != "bytes":
            raise IndexFormatError(f"the FM-index in {directory} names the {tokenizer.kind} tokenizer, but "
                                   "FM-indexes hold bytes; rebuild the index")
        if not isinstance(fm, dict) or not isinstance(fm.get("sample_rate"), int):
            raise IndexFormatError(f"the manifest of {directory} has no FM sampling settings; rebuild the index")
    entries = manifest.get("shards")
    if not isinstance(entries, list) or not entries:
        raise IndexFormatError(f"the manifest of {directory} lists no shards; rebuild the index")
    shards = [open_shard(kind, directory, entry, tokenizer.token_width, manifest.get(kind)) for entry in entries]
    if sum(s.num_documents for s in shards) != manifest.get("num_documents") or \
            sum(s.num_tokens for s in shards) != manifest.get("num_tokens"):
        raise IndexFormatError(f"the shards of {directory} do not add up to the manifest's totals; rebuild the index")
    return manifest, tokenizer, shards


class Index(Corpus):
    """An open index (one directory or several as one). Use :meth:`Index.open`; queries
    are strings or token ids."""

    def __init__(self, directories: list[Path], manifests: list[dict[str, Any]], tokenizer: Tokenizer,
                 shards: list[Shard] | ShardSet):
        kind = manifests[0]["index_kind"]
        shard_set = shards if isinstance(shards, ShardSet) else ShardSet(shards)  # a ShardSet: shards elsewhere
        super().__init__(shard_set, tokenizer, kind, OPERATIONS_OF_KIND[kind])
        self.directories = directories
        self.manifests = manifests
        self.max_work_ceiling: int | None = None
        """A ceiling on every request's work budget that no call can lift (a server's ``--max-work``)."""

    @classmethod
    def open(cls, location: IndexLocation, tokenizer: Any = None, *, load: str = "auto",
             memory: str | int | None = None) -> "Index":
        """Open an index directory, or several as one (a list, or a comma-separated string);
        raises :class:`~infgram.errors.IndexFormatError` if one is damaged or they differ.
        An official infini-gram index directory opens in place, read-only; ``tokenizer`` (a
        ``tokenizer.json`` path) is its tokenizer, else the one ``infgram adopt`` recorded
        (see :mod:`infgram.shards.official`).

        ``load`` says where the index lives while it answers: ``ram`` (read into memory at
        open), ``disk`` (read as queries need it, with a RAM tier of sampled suffix keys
        sized by ``memory``, e.g. ``"64M"``) or ``auto`` (``ram`` when the index takes at
        most half the memory available to the process, its control group's limit included).
        Answers are the same either way; see :mod:`infgram.shards.residency`.

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents(["a rose is a rose"], folder / "i", progress=False)
        >>> index = infgram.Index.open(folder / "i", load="disk", memory="1M")
        >>> index.count("rose"), index.info()["memory"]["load"]
        (2, 'disk')
        """
        index = cls._open_files(location, tokenizer)
        index.place(load, memory)
        return index

    def place(self, load: str = "auto", memory: str | int | None = None) -> None:
        """Choose where the index lives while it answers (see :meth:`open`): advise the
        operating system and fill the RAM tier, shard by shard. Answers do not change.

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents(["a rose is a rose"], folder / "i", progress=False)
        >>> index = infgram.Index.open(folder / "i", load="ram")
        >>> index.place("disk", memory=0)
        >>> index.count("rose"), index.info()["memory"]["tier_bytes"]
        (2, 16)
        """
        shards = self.shards
        index_bytes = sum(path.stat().st_size for shard in shards for path in shard.files.values() if path.is_file())
        tier_bytes = sum(shard.tier_bytes for shard in shards)
        residency = Residency.plan(index_bytes, tier_bytes, load, memory)
        for shard in shards:
            # Each shard's part of the tier budget is its part of the keys.
            share = residency.tier_budget_bytes * shard.tier_bytes // max(tier_bytes, 1)
            held, locked, step = shard.place(residency.load, share)
            residency.tier_bytes += held
            residency.tier_locked = residency.tier_locked and locked
            residency.key_steps.append(step)
        self.residency = residency
        # From disk, the shards wait for their pages together (see ShardSet.map).
        self.shard_set.read_in_parallel = residency.load == "disk" and len(shards) > 1

    @classmethod
    def _open_files(cls, location: IndexLocation, tokenizer: Any = None) -> "Index":
        directories = index_directories(location)
        opened = [_open_directory(directory, tokenizer) for directory in directories]
        first_manifest, tokenizer, _ = opened[0]
        for directory, (manifest, other, _) in zip(directories[1:], opened[1:]):
            for what, mine, theirs in (
                ("index kind", first_manifest["index_kind"], manifest["index_kind"]),
                ("tokenizer", tokenizer.manifest_entry(), other.manifest_entry()),
                ("token width", tokenizer.token_width, other.token_width),
            ):
                if mine != theirs:
                    raise IndexFormatError(f"expected every index opened together to have the {what} of "
                                           f"{directories[0]} ({mine!r:.120}), found {theirs!r:.120} in {directory}; "
                                           "open them separately, or rebuild one to match")
        return cls(directories, [m for m, _, _ in opened], tokenizer, [s for _, _, shards in opened for s in shards])

    @property
    def directory(self) -> Path:
        """The (first) index directory."""
        return self.directories[0]

    @property
    def manifest(self) -> dict[str, Any]:
        """The (first) directory's manifest."""
        return self.manifests[0]

    @property
    def shards(self) -> list[Shard]:
        """The shards, in global document order: the low-level door for tools (see :mod:`infgram.shards`)."""
        return self.shard_set.shards

    # -- documents --------------------------------------------------------------------------------
    def document(self, number: int) -> Document:
        """Document ``number`` (0-based, in input order), whole, with its metadata."""
        return read_document(self, number, None, 0, None)

    def documents(self, query: Query, limit: int = 10, offset: int = 0, seed: int | None = None,
                  context: int | None = None, max_work: int | None = None, exact: bool = False,
                  exact_tokens: bool = False, whole_words: bool = False, ignore_case: bool = False,
                  inside_tokens: bool = False, progress: bool = False) -> DocumentsResult:
        """The number of documents that contain the query, and ``limit`` of them from ``offset``.

        Documents come in index order, or in a random order fixed by ``seed`` (the same seed
        gives the same order, so pages do not overlap). The seeded order draws occurrences at
        random and lists each document when one of its occurrences is first drawn (that one is
        its ``start``), so a document with many occurrences tends to come early; it is the same
        on suffix-array and FM indexes of one shard layout (see :mod:`infgram.query.documents`).
        With ``context``, each document is cut to a window of that many tokens on each side of
        its first match (with a seed, of the match drawn). Reading more than
        ``max_work`` occurrences (see :mod:`infgram.query.budget`) gives an exact lower bound
        of the count, flagged ``num_documents_exact=False``; ``exact=True`` reads them all
        (``progress=True`` shows a progress bar meanwhile, as the CLI's ``--exact`` does).
        A string on a tokenized index matches in all its forms (listed in ``forms``, see
        :meth:`forms`); ``exact_tokens=True`` searches exactly its encoding. ``whole_words=True``
        keeps the occurrences with no word character just before or after, ``ignore_case=True``
        (a byte index) matches every case variant (see :mod:`infgram.query.words`).
        ``inside_tokens=True`` fills in ``inside_tokens`` and ``notice`` (see
        :meth:`inside_tokens_fields`).

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents(["a rose is a rose", "is it"], folder / "fm", kind="fm", progress=False)
        >>> index = infgram.Index.open(folder / "fm")
        >>> index.kind, index.count("rose"), index.count_batch(["is", "a r", "x"]).tolist()
        ('fm', 2, [2, 2, 0])
        >>> [(d.index, d.start, d.text) for d in index.documents("is", context=2).documents]
        [(0, 7, 'e is a'), (1, 0, 'is i')]
        """
        matching = Matching.of(exact_tokens, whole_words, ignore_case, inside_tokens)
        budget = work_limit(max_work, exact, self.max_work_ceiling)
        return self._with_inside_tokens(documents(self, query, limit, offset, seed, context, budget, matching, progress),
                                        [query], matching.inside_tokens)

    def search(self, cnf: Any, within: int | None = None, limit: int = 10, offset: int = 0,
               seed: int | None = None, context: int | None = None, max_work: int | None = None,
               exact: bool = False, exact_tokens: bool = False, whole_words: bool = False,
               ignore_case: bool = False, inside_tokens: bool = False) -> SearchResult:
        """Documents matching an AND of ORs of phrases, exactly (see :mod:`infgram.query.search`).

        ``cnf`` is a list of clauses, each a list of phrases (strings, id lists or
        ``{"ids": [...]}``), or a query string such as ``'"a rose" AND (is OR was)'``. With
        ``within=N`` one occurrence of every clause must begin within N tokens of the others.
        Returns the number of matching documents and of match sites, and ``limit`` documents
        from ``offset`` (in index order, or in an order fixed by ``seed``) with every match
        marked in ``spans``; ``context`` cuts each to a window around its first match. A
        search that would read more than ``max_work`` positions raises
        :class:`~infgram.errors.LimitError` (``exact=True`` lifts the budget). A string phrase
        on a tokenized index stands for all its forms (see :meth:`forms`; ``exact_tokens=True``
        searches exactly its encoding); ``whole_words``, ``ignore_case`` and ``inside_tokens`` as
        in :meth:`documents`.

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents(["a rose is a rose", "a rose was red", "is it"], folder / "i", progress=False)
        >>> index = infgram.Index.open(folder / "i")
        >>> result = index.search('rose AND (is OR was)')
        >>> result.num_documents, result.sites, [(d.index, d.spans) for d in result.documents]
        (2, 5, [(0, [(2, 6), (7, 9), (12, 16)]), (1, [(2, 6), (7, 10)])])
        >>> index.search([["was"], ["red"]], within=4).num_documents, index.search([["was"], ["red"]], within=3).num_documents
        (1, 0)
        """
        self.require("search")
        matching = Matching.of(exact_tokens, whole_words, ignore_case, inside_tokens)
        result = search(self, cnf, within, limit, offset, seed, context,
                        work_limit(max_work, exact, self.max_work_ceiling), matching)
        phrases = [phrase for clause in (parse_query(cnf) if isinstance(cnf, str) else cnf) for phrase in clause] \
            if inside_tokens is True else []
        return self._with_inside_tokens(result, phrases, inside_tokens)

    def cooccurrence(self, phrases: Sequence[Query], pairs: Sequence[tuple[int, int]] | None = None,
                     document_counts: bool = False, max_work: int | None = None,
                     exact: bool = False, exact_tokens: bool = False, whole_words: bool = False,
                     ignore_case: bool = False, inside_tokens: bool = False) -> CooccurrenceResult:
        """Counts of many phrases, and for pairs of them (by number; all pairs when None) the
        number of documents that contain both; with ``document_counts``, also the number of
        documents of each phrase (which reads every occurrence of the frequent ones). Past
        ``max_work`` units of work it raises :class:`~infgram.errors.LimitError`. String phrases
        on a tokenized index count in all their forms (see :meth:`forms`) unless ``exact_tokens``;
        ``whole_words``, ``ignore_case`` and ``inside_tokens`` as in :meth:`documents` (whole
        words read every occurrence).

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents(["a rose is a rose", "a rose was red", "is it"], folder / "i", progress=False)
        >>> result = infgram.Index.open(folder / "i").cooccurrence(["rose", "is", "red"], document_counts=True)
        >>> result.counts, result.document_counts, result.pair_document_counts
        ([3, 2, 1], [2, 2, 1], [1, 1, 0])
        """
        self.require("cooccurrence")
        matching = Matching.of(exact_tokens, whole_words, ignore_case, inside_tokens)
        return self._with_inside_tokens(cooccurrence(self, phrases, pairs, document_counts,
                                                     work_limit(max_work, exact, self.max_work_ceiling), matching),
                                        list(phrases), matching.inside_tokens)

    def attribute(self, text: Query, min_length: int | None = None, max_count: int = 100, examples: int = 3,
                  context: int | None = None, whole_words: bool = False, max_work: int | None = None,
                  exact: bool = False) -> AttributionResult:
        """The maximal spans of ``text`` that occur verbatim in the corpus, as OLMoTrace shows them.

        Spans are at least ``min_length`` tokens (default 32 in a byte index, 8 with a
        tokenizer); each has its count and number of documents, and up to ``examples``
        documents cut to ``context`` tokens around the match, unless it is in more than
        ``max_count`` documents (then it is ``common``). ``whole_words=True`` keeps the
        stretches that are whole words in the text and occur as whole words in the corpus,
        counted as such; ``max_work`` bounds the occurrences read (``exact=True`` lifts it).
        See :mod:`infgram.query.attribution`.

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents(["the cat sat on the mat", "a dog sat on a log"], folder / "i", progress=False)
        >>> index = infgram.Index.open(folder / "i")
        >>> result = index.attribute("my cat sat on a log", min_length=6, context=3)
        >>> [(span.text, span.count, [d.text for d in span.documents]) for span in result.spans]
        [('cat sat on', 1, ['he cat sat on th']), ('sat on a log', 1, ['og sat on a log'])]
        >>> [span.text for span in index.attribute("he cat sat on a log", min_length=6).spans]  # "he" of "the"
        ['he cat sat on', 'sat on a log']
        >>> [span.text for span in index.attribute("he cat sat on a log", min_length=6, whole_words=True).spans]
        ['cat sat on', 'sat on a log']
        """
        self.require("attribute")
        return attribute(self, text, min_length, max_count, examples, context, whole_words, max_work, exact)

    def draft(self, prompt: Query, max_tokens: int = 16, min_probability: float = 0.0, min_count: int = 1,
              max_suffix_tokens: int | None = None) -> DraftResult:
        """A greedy ∞-gram continuation of the prompt, token by token, with why it stopped
        (see :mod:`infgram.query.drafting`).

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents(["a rose is a rose"], folder / "i", progress=False)
        >>> result = infgram.Index.open(folder / "i").draft("is a", max_tokens=3)
        >>> "".join(token.text for token in result.tokens), result.stop
        (' ro', 'max_tokens')
        """
        return draft(self, prompt, max_tokens, min_probability, min_count, max_suffix_tokens)

    def novelty(self, text: Query, max_n: int = DEFAULT_MAX_N) -> NoveltyResult:
        """The share of the text's n-grams, for n = 1 .. ``max_n``, that occur nowhere in the
        corpus (units are tokens, or words in a byte index; see :mod:`infgram.query.novelty`).

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents(["the cat sat on the mat"], folder / "i", progress=False)
        >>> infgram.Index.open(folder / "i").novelty("the cat sat on a mat", max_n=3).novelty
        [0.0, 0.4, 0.5]
        """
        return novelty(self, text, max_n)

    def creativity(self, text: Query, min_length: int | Sequence[int] | None = None) -> CreativityResult:
        """The L-uniqueness of the text for each L of ``min_length`` (one or a list; default
        5 .. 12) and the Creativity Index, their sum (see :mod:`infgram.query.novelty`).

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents(["the cat sat on the mat"], folder / "i", progress=False)
        >>> infgram.Index.open(folder / "i").creativity("the cat sat on a mat", min_length=[2, 3]).creativity_index
        0.6666666666666666
        """
        return creativity(self, text, min_length)

    # -- the index itself -----------------------------------------------------------------------
    @property
    def generation(self) -> int:
        """The generation of the (first) directory this index opened: 0 for a fresh build, one
        more after each ``add``, ``remove`` or ``compact`` (see :mod:`infgram.change`)."""
        return generation_of(self.manifest)

    def reload(self) -> bool:
        """Open the directories again when a change has written a new generation since this
        index opened them; returns whether it did. Until then, and for queries already
        running, the index answers from the generation it opened.

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents(["a rose", "a rose was red"], folder / "i", progress=False)
        >>> index = infgram.Index.open(folder / "i")
        >>> _ = infgram.remove(folder / "i", documents=[0], progress=False)
        >>> index.count("rose"), index.reload(), index.count("rose"), index.reload()
        (2, True, 1, False)
        """
        if type(self.shard_set) is not ShardSet:
            raise UnsupportedOperationError("an index whose shards live elsewhere (on a Ray cluster) reloads by "
                                            "being opened again: call infgram.distributed.open")
        if [_generation(directory) for directory in self.directories] == \
                [generation_of(manifest) for manifest in self.manifests]:
            return False
        fresh = type(self)._open_files(self.directories, self.tokenizer if self.kind == OFFICIAL_KIND else None)
        residency = getattr(self, "residency", None)
        if residency is not None:
            fresh.place(residency.requested, residency.tier_budget_bytes)
        ceiling = self.max_work_ceiling
        self.__dict__.update(fresh.__dict__)  # one generation or the other, attribute by attribute
        self.max_work_ceiling = ceiling
        return True

    def info(self) -> dict[str, Any]:
        """What the index holds, what it answers, and how big it is; ``normalization`` is the
        form of ``--normalize`` it was built with (None: the text as written; see
        :mod:`infgram.normalize` for what keeping the originals costs).

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents(["Ab"], folder / "i", normalize="lowercase", progress=False)
        >>> info = infgram.Index.open(folder / "i").info()
        >>> info["normalization"], info["num_tokens"]
        ('lowercase', 2)
        """
        size = sum(directory_bytes(directory) for directory in self.directories)
        info = {
            "directory": ",".join(str(directory) for directory in self.directories),
            "index_kind": self.kind,
            "tokenizer": self.tokenizer.kind,
            "token_width": self.token_width,
            "vocab_size": self.vocab_size,
            "separator_id": self.separator_id,
            "num_documents": self.num_documents,
            "num_tokens": self.num_tokens,
            "num_shards": len(self.shards),
            "index_bytes": size,
            "bytes_per_token": round(size / max(self.num_tokens, 1), 3),
            "operations": sorted(self.operations),
            "generation": self.generation,
            "num_removed_documents": len(self.shard_set.removed_documents()),
            "normalization": self.manifest.get("tokenizer", {}).get("normalize"),
        }
        changes = [change for manifest in self.manifests for change in manifest.get("changes", [])]
        if changes:
            info["changes"] = changes[-20:]
        residency = getattr(self, "residency", None)
        if residency is not None:
            info["memory"] = residency.describe()
        if self.kind == OFFICIAL_KIND:
            info["official"] = {**self.manifest["official"], "format_version": 4, "read_only": True,
                                "cannot": ["add", "remove", "compact", "deduplicate", "verify"],
                                "token_dtype": f"u{8 * self.token_width}"}
        if self.kind == "fm":
            info["sample_rate"] = self.manifest["fm"]["sample_rate"]
            info["isa_rate"] = self.manifest["fm"].get("isa_rate")
        return info

    def verify_bytes(self) -> int:
        """The bytes :meth:`verify` reads: every file's payload.

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> index = infgram.Index.open(infgram.build_from_documents(["a rose"], folder / "i", progress=False).directory)
        >>> index.verify_bytes() > 0
        True
        """
        return sum(max(0, int(file.get("bytes", 0)) - HEADER_BYTES) for manifest in self.manifests
                   for entry in manifest["shards"] for file in entry["files"].values())

    def verify(self, on_chunk: Callable[[int], None] | None = None) -> None:
        """Check every file's header and recompute its checksum against the manifest (reads
        the whole index); raises :class:`~infgram.errors.IndexFormatError` naming the first
        damaged file. ``on_chunk`` is called with the bytes of every chunk read (of
        :meth:`verify_bytes` in all): progress, and a place to pause or stop."""
        if self.kind == OFFICIAL_KIND:
            raise UnsupportedOperationError("an official infini-gram index has no checksums to verify; its files are "
                                            "checked when it opens (sizes, document offsets, a sample of its table)")
        for directory, manifest in zip(self.directories, self.manifests):
            for entry in manifest["shards"]:
                for file in entry["files"].values():
                    path = directory / file["path"]
                    read_header(path)  # the checksum covers the payload; the header is checked whole
                    if file_sha256(path, on_chunk=on_chunk) != file["sha256"]:
                        raise IndexFormatError(f"{path} does not match its checksum in the manifest; "
                                               "the file is damaged: rebuild the index")
