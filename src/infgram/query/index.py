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
from ..format import HEADER_BYTES, directory_bytes, file_sha256, generation_of, index_kind, read_header, read_manifest
from ..format.manifest import Manifest, ShardEntry
from ..format.readers import ReaderHold
from ..build.memory import build_in_memory
from ..shards import Shard, open_shard
from ..shards.memory import MemorySAShard
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
from .filtering import (
    conditions_of,
    filtered_infgram_next_tokens,
    filtered_infgram_probabilities,
    filtered_infgram_probability,
    filtered_probability,
)
from .encoding import Query
from ..format.metadata import parse_where
from .metadata import CountByResult, count_by, filtered_documents, filtered_next_tokens
from .novelty import DEFAULT_MAX_N, creativity, novelty
from .options import Matching
from .results import (
    AttributionResult,
    CooccurrenceResult,
    CreativityResult,
    Document,
    DocumentsResult,
    DraftResult,
    InfgramNextTokensResult,
    InfgramProbabilitiesResult,
    InfgramProbabilityResult,
    NextTokensResult,
    NoveltyResult,
    ProbabilityResult,
    SearchResult,
    TraceResult,
)
from .search import cooccurrence, parse_query, search
from .tracing import DEFAULT_DOCUMENTS_PER_SPAN, attribution_of_trace, trace
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


def _open_official(directory: Path, tokenizer_spec: Any) -> tuple[Manifest, Tokenizer, list[Shard]]:
    """An official infini-gram index, opened in place (see :mod:`infgram.shards.official`),
    with a manifest of ours describing it (never written)."""
    opened = open_official_directory(directory)
    tokenizer = official_tokenizer(opened, tokenizer_spec)
    manifest = Manifest(index_kind=OFFICIAL_KIND, format=OFFICIAL_KIND, format_version=4,
                        token_width=opened.token_width, tokenizer=tokenizer.manifest_entry(),
                        num_documents=opened.num_documents, num_tokens=opened.num_tokens,
                        shards=[ShardEntry(**entry, num_positions=entry["num_documents"] + entry["num_tokens"], files={})
                                for entry in manifest_entries(opened)],
                        settings={"num_shards": len(opened.shards),
                                  "metadata": all(s.has_metadata for s in opened.shards),
                                  "adopted": bool(opened.sidecar)})
    return manifest, tokenizer, list(opened.shards)


def _generation(directory: Path) -> int:
    """The generation of an index directory on disk (an official index never changes: 0)."""
    return 0 if is_official_directory(directory) else generation_of(read_manifest(directory))


def _held_manifest(directory: Path) -> tuple[Manifest, ReaderHold]:
    """The manifest of an index directory and a hold on its generation, taken before the
    manifest is trusted (see :mod:`infgram.format.readers`): a change that commits meanwhile
    makes it start over with the new generation."""
    manifest = read_manifest(directory)
    while True:
        hold = ReaderHold.take(directory, generation_of(manifest))
        again = read_manifest(directory)
        if generation_of(again) == hold.generation:
            return again, hold
        hold.release()
        manifest = again


def _open_directory(directory: Path, tokenizer_spec: Any = None,
                    holds: list[ReaderHold] | None = None) -> tuple[Manifest, Tokenizer, list[Shard]]:
    if is_official_directory(directory):
        return _open_official(directory, tokenizer_spec)
    if tokenizer_spec is not None:
        raise QueryError(f"{directory} is an infgram index, which records its own tokenizer; open it without "
                         "tokenizer= (that is for official infini-gram indexes)")
    manifest, hold = _held_manifest(directory)
    if holds is not None:
        holds.append(hold)
    tokenizer = tokenizer_from_manifest(manifest.tokenizer or {}, directory)
    if tokenizer.token_width != manifest.token_width:
        raise IndexFormatError(f"the manifest's token width {manifest.token_width!r:.40} does not match its "
                               f"tokenizer's ({tokenizer.token_width}); rebuild the index")
    kind = manifest.kind
    if kind.tokenizers is not None and tokenizer.kind not in kind.tokenizers:
        raise IndexFormatError(f"the index in {directory} is {kind.title} and names the {tokenizer.kind} tokenizer, "
                               f"but {kind.title} holds {' or '.join(kind.tokenizers)} only; rebuild the index")
    if kind.settings_section and (not isinstance(manifest.settings, dict) or
                                  not isinstance(manifest.settings.get("sample_rate"), int)):
        raise IndexFormatError(f"the manifest of {directory} has no {kind.settings_section!r} settings (the "
                               f"sampling rates of {kind.title}); rebuild the index")
    entries = manifest.check_shards(directory)
    shards = [open_shard(kind.name, directory, entry, tokenizer.token_width, manifest.settings) for entry in entries]
    manifest.check_totals(directory, sum(s.num_documents for s in shards), sum(s.num_tokens for s in shards))
    return manifest, tokenizer, shards


def _directory_sizes(directory: Path, manifest: dict[str, Any]) -> tuple[int, int, int]:
    """The bytes of an index directory as (index, garbage, other): the shard files the manifest
    names (what queries read), the files of shard and generation folders it does not name
    (superseded by a change, deleted once no reader holds them: see
    :mod:`infgram.format.readers`), and the rest (manifest, tokenizer, build report).

    >>> import tempfile, pathlib, infgram
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = infgram.build_from_documents(["a rose", "a rose was red"], folder / "i", progress=False)
    >>> _ = infgram.remove(folder / "i", documents=[0], progress=False)
    >>> reader = infgram.Index.open(folder / "i")            # holds generation 1: compact cannot free it
    >>> _ = infgram.compact(folder / "i", progress=False)
    >>> info = infgram.Index.open(folder / "i").info()
    >>> on_disk = sum(f.stat().st_size for f in (folder / "i").rglob("*") if f.is_file())
    >>> info["garbage_bytes"] > 0, info["index_bytes"] + info["garbage_bytes"] + info["other_bytes"] == on_disk
    (True, True)
    """
    named = {str(file.get("path")) for entry in manifest.get("shards", []) for file in entry.get("files", {}).values()}
    index = garbage = other = 0
    root = Path(directory)
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        relative = path.relative_to(root).as_posix()
        size = path.stat().st_size
        if relative in named:
            index += size
        elif "/" in relative and not relative.startswith("."):
            garbage += size
        else:
            other += size
    return index, garbage, other


class Index(Corpus):
    """An open index (one directory or several as one). Use :meth:`Index.open`; queries
    are strings or token ids."""

    def __init__(self, directories: list[Path], manifests: list[Manifest], tokenizer: Tokenizer,
                 shards: list[Shard] | ShardSet):
        kind = index_kind(manifests[0]["index_kind"])
        shard_set = shards if isinstance(shards, ShardSet) else ShardSet(shards)  # a ShardSet: shards elsewhere
        super().__init__(shard_set, tokenizer, kind.name, kind.operations)
        self.directories = directories
        self.manifests = manifests
        self.max_work_ceiling: int | None = None
        """A ceiling on every request's work budget that no call can lift (a server's ``--max-work``)."""
        self.holds: list[ReaderHold] = []
        """The generations this index holds while it uses them (see :mod:`infgram.format.readers`)."""
        self.build_report: Any = None
        """What building an index in memory did (:meth:`from_texts`): a :class:`~infgram.BuildReport`."""
        self.tier_directory: Path | None = None
        """A folder the processes of one server share, where a RAM tier sparser than the keys
        file is kept once for all of them (see :meth:`open`); None: in this process."""

    @classmethod
    def open(cls, location: IndexLocation, tokenizer: Any = None, *, load: str = "auto",
             memory: str | int | None = None, tier_directory: str | Path | None = None) -> "Index":
        """Open an index directory, or several as one (a list, or a comma-separated string);
        raises :class:`~infgram.errors.IndexFormatError` if one is damaged or they differ.
        An official infini-gram index directory opens in place, read-only; ``tokenizer`` (a
        ``tokenizer.json`` path) is its tokenizer, else the one ``infgram adopt`` recorded
        (see :mod:`infgram.shards.official`).

        ``load`` says where the index lives while it answers: ``ram`` (read into memory at
        open), ``disk`` (read as queries need it, with a RAM tier of sampled suffix keys
        sized by ``memory``, e.g. ``"64M"``) or ``auto`` (``ram`` when the index takes at
        most half the memory available to the process, its control group's limit included).
        Answers are the same either way; see :mod:`infgram.shards.residency`. Processes that
        serve the same index (a server's workers) give the same ``tier_directory``, a folder
        they share: a RAM tier sparser than the keys file (an index whose keys exceed the
        budget) is then a file there that they all map, in memory once, not once per process.

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents(["a rose is a rose"], folder / "i", progress=False)
        >>> index = infgram.Index.open(folder / "i", load="disk", memory="1M")
        >>> index.count("rose"), index.info()["memory"]["load"]
        (2, 'disk')
        """
        index = cls._open_files(location, tokenizer)
        index.tier_directory = None if tier_directory is None else Path(tier_directory)
        index.place(load, memory)
        return index

    @classmethod
    def from_texts(cls, documents: Any, *, tokenizer: Any = None, token_width: int | None = None,
                   vocab_size: int | None = None, on_error: str = "fail", shard_tokens: int | None = None,
                   normalize: str | None = None) -> "Index":
        """An index built in memory, with no files: a throwaway index for a notebook, built in
        milliseconds for small inputs, that answers every query an index directory of the
        same documents answers, the same way (see :mod:`infgram.build.memory`).

        ``documents`` are strings, ``{"text": ..., "metadata": {...}}`` or, with
        ``token_width``, ``{"ids": [...]}`` (or lists of ids), as for
        :func:`~infgram.build_from_documents`, whose options these are. Its ``directories`` are
        empty, and ``info()["index_bytes"]`` counts the arrays in memory.

        >>> import infgram
        >>> index = infgram.Index.from_texts(["a rose is a rose", "is it"])
        >>> index.count("rose"), index.document(1).text, index.info()["in_memory"]
        (2, 'is it', True)
        >>> infgram.Index.from_texts([[1, 2, 1], [2]], token_width=2).count([2, 1])
        1
        """
        if token_width is not None and not isinstance(documents, (str, bytes, dict)):
            # Lists of ids stand for {"ids": ...}.
            documents = ({"ids": item} if not isinstance(item, (str, dict)) else item for item in documents)
        built = build_in_memory(documents, tokenizer=tokenizer, token_width=token_width, vocab_size=vocab_size,
                                on_error=on_error, shard_tokens=shard_tokens, normalize=normalize)
        shards = [MemorySAShard(shard.name, shard.tokens, shard.suffix_array, shard.starts, shard.metadata_offsets,
                                shard.metadata, shard.first_document, built.tokenizer.token_width)
                  for shard in built.shards]
        index = cls([], [Manifest.from_json(built.manifest)], built.tokenizer, shards)
        index.build_report = built.report
        return index

    @property
    def in_memory(self) -> bool:
        """Whether the index was built in memory (:meth:`from_texts`), with no directory."""
        return not self.directories

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
            held, locked, step = shard.place(residency.load, share, self.tier_directory)
            residency.tier_bytes += held
            residency.tier_locked = residency.tier_locked and locked
            residency.key_steps.append(step)
        self.residency = residency
        # From disk, the shards wait for their pages together (see ShardSet.map).
        self.shard_set.read_in_parallel = residency.load == "disk" and len(shards) > 1

    @classmethod
    def _open_files(cls, location: IndexLocation, tokenizer: Any = None) -> "Index":
        directories = index_directories(location)
        holds: list[ReaderHold] = []
        try:
            opened = [_open_directory(directory, tokenizer, holds) for directory in directories]
        except BaseException:
            for hold in holds:
                hold.release()
            raise
        first_manifest, tokenizer, _ = opened[0]
        for directory, (manifest, other, _) in zip(directories[1:], opened[1:]):
            for what, mine, theirs in (
                ("index kind", first_manifest.index_kind, manifest.index_kind),
                ("tokenizer", tokenizer.manifest_entry(), other.manifest_entry()),
                ("token width", tokenizer.token_width, other.token_width),
            ):
                if mine != theirs:
                    raise IndexFormatError(f"expected every index opened together to have the {what} of "
                                           f"{directories[0]} ({mine!r:.120}), found {theirs!r:.120} in {directory}; "
                                           "open them separately, or rebuild one to match")
        index = cls(directories, [m for m, _, _ in opened], tokenizer, [s for _, _, shards in opened for s in shards])
        index.holds = holds
        return index

    @property
    def directory(self) -> Path:
        """The (first) index directory."""
        if self.in_memory:
            raise UnsupportedOperationError("this index was built in memory (Index.from_texts) and has no directory; "
                                            "build one with infgram.build_from_documents to keep it on disk")
        return self.directories[0]

    @property
    def manifest(self) -> Manifest:
        """The (first) directory's manifest."""
        return self.manifests[0]

    @property
    def shards(self) -> list[Shard]:
        """The shards, in global document order: the low-level door for tools (see :mod:`infgram.shards`)."""
        return self.shard_set.shards

    # -- counts by metadata --------------------------------------------------------------------------
    def count(self, query: Query, exact_tokens: bool = False, whole_words: bool = False, ignore_case: bool = False,
              max_work: int | None = None, exact: bool = False, by: str | None = None,
              where: Any = None, estimate: bool = False) -> int | CountByResult:
        """Occurrences of a token sequence (see :meth:`Corpus.count <infgram.query.corpus.Corpus.count>`).

        ``by="lang"`` (a metadata field; nested ones as ``meta.lang``) gives a
        :class:`~infgram.query.metadata.CountByResult`: the count, the count per value of the
        field (values shown as strings) and in documents lacking it (``missing``).
        ``where`` keeps the occurrences in documents whose metadata meet conditions
        (``{"lang": "de"}``, ``{"year": {"gte": 1990}}``, ``["lang!=de"]``; see
        :mod:`infgram.format.metadata`). Both are exact: they read every occurrence, within
        ``max_work`` (past it a :class:`~infgram.errors.LimitError`; ``exact=True`` lifts
        it). See :mod:`infgram.query.metadata`.

        ``estimate=True`` (with ``by`` or ``where``) answers past the budget too: from a
        uniform sample of the occurrences (fixed seed), a :class:`~infgram.query.metadata.
        CountByResult` with ``estimated=True``, the sample's size and counts, and 95%
        intervals; under the budget it is exact, ``estimated=False``. See
        :mod:`infgram.query.estimation`.

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents([{"text": "abab", "year": 1999}, {"text": "ab", "year": 2001}],
        ...                                  folder / "i", progress=False)
        >>> index = infgram.Index.open(folder / "i")
        >>> index.count("ab"), index.count("ab", by="year").by, index.count("ab", where={"year": {"lt": 2000}})
        (3, {'1999': 2, '2001': 1}, 2)
        """
        if not isinstance(estimate, bool):
            raise QueryError(f"expected estimate to be true or false, found {estimate!r:.40}")
        where = parse_where(where)  # once: count_by takes it parsed
        if by is None and where is None:  # no field, no condition: a plain count
            return super().count(query, exact_tokens, whole_words, ignore_case, max_work, exact)
        matching = Matching.of(exact_tokens, whole_words, ignore_case)
        return count_by(self, query, by, where, matching, work_limit(max_work, exact, self.max_work_ceiling), estimate)

    def next_tokens(self, prompt: Query, top_k: int | None = None, exact_tokens: bool = False,
                    inside_tokens: bool = False, where: Any = None) -> NextTokensResult:
        """The exact next-token distribution after a prompt (see :meth:`Corpus.next_tokens
        <infgram.query.corpus.Corpus.next_tokens>`); ``where`` keeps the occurrences in documents
        whose metadata meet conditions (as in :meth:`count`), reading every occurrence within the
        default work budget (past it a :class:`~infgram.errors.LimitError`).

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents([{"text": "ab", "k": "x"}, {"text": "ac", "k": "y"}], folder / "i",
        ...                                  progress=False)
        >>> [token.text for token in infgram.Index.open(folder / "i").next_tokens("a", where={"k": "y"}).tokens]
        ['c']
        """
        if where is None or parse_where(where) is None:
            return super().next_tokens(prompt, top_k, exact_tokens, inside_tokens)
        self.require("next_tokens")
        self._check_top_k(top_k)
        result = filtered_next_tokens(self, prompt, top_k, exact_tokens, where,
                                      work_limit(None, False, self.max_work_ceiling))
        return self._with_inside_tokens(result, [prompt], inside_tokens)

    def probability(self, prompt: Query, next_token: str | int, exact_tokens: bool = False,
                    inside_tokens: bool = False, where: Any = None) -> ProbabilityResult:
        """count(prompt + next) / count(prompt) (see :meth:`Corpus.probability
        <infgram.query.corpus.Corpus.probability>`); ``where`` counts both in the documents whose
        metadata meet conditions (as in :meth:`count`), reading every occurrence of the prompt
        within the default work budget (past it a :class:`~infgram.errors.LimitError`; see
        :mod:`infgram.query.filtering`).

        >>> import infgram
        >>> index = infgram.Index.from_texts([{"text": "ab", "metadata": {"k": "x"}}, {"text": "ac", "metadata": {"k": "y"}}])
        >>> index.probability("a", "c").probability, index.probability("a", "c", where={"k": "y"}).probability
        (0.5, 1.0)
        """
        conditions = conditions_of(where)
        if conditions is None:
            return super().probability(prompt, next_token, exact_tokens, inside_tokens)
        self.require("probability")
        next_id = int(self.encoder.ids_of(self._encode_next(next_token, exact_tokens))[0])
        searched, forms = self._forms_searched(prompt, exact_tokens)
        result = filtered_probability(self, searched, forms, next_id, conditions, self._filtered_budget())
        return self._with_inside_tokens(result, [prompt], inside_tokens)

    def infgram_probability(self, prompt: Query, next_token: str | int, exact_tokens: bool = False,
                            where: Any = None) -> InfgramProbabilityResult:
        """P(next | longest suffix of the prompt that occurs) (see :meth:`Corpus.infgram_probability
        <infgram.query.corpus.Corpus.infgram_probability>`). With ``where``, the ∞-gram of the
        documents whose metadata meet conditions: the longest suffix that occurs in one of them,
        counted in them only, within the default work budget (see :mod:`infgram.query.filtering`).

        >>> import infgram
        >>> index = infgram.Index.from_texts([{"text": "xab", "metadata": {"k": "x"}}, {"text": "ac", "metadata": {"k": "y"}}])
        >>> index.infgram_probability("xa", "c"), index.infgram_probability("xa", "c", where={"k": "y"})
        (InfgramProbabilityResult(suffix_length=2, prompt_count=1, count=0, probability=0.0), \
InfgramProbabilityResult(suffix_length=1, prompt_count=1, count=1, probability=1.0))
        """
        conditions = conditions_of(where)
        if conditions is None:
            return super().infgram_probability(prompt, next_token, exact_tokens)
        self.require("infgram_probability")
        next_id = int(self.encoder.ids_of(self._encode_next(next_token, exact_tokens))[0])
        return filtered_infgram_probability(self, prompt, next_id, conditions, self._filtered_budget())

    def infgram_next_tokens(self, prompt: Query, top_k: int | None = None, where: Any = None
                            ) -> InfgramNextTokensResult:
        """The next-token distribution after the longest suffix of the prompt that occurs; with
        ``where``, in the documents whose metadata meet conditions (as in :meth:`infgram_probability`).

        >>> import infgram
        >>> index = infgram.Index.from_texts([{"text": "xab", "metadata": {"k": "x"}}, {"text": "ac", "metadata": {"k": "y"}}])
        >>> result = index.infgram_next_tokens("xa", where={"k": "y"})
        >>> result.suffix_length, [(token.text, token.count) for token in result.tokens]
        (1, [('c', 1)])
        """
        conditions = conditions_of(where)
        if conditions is None:
            return super().infgram_next_tokens(prompt, top_k)
        self.require("infgram_next_tokens")
        self._check_top_k(top_k)
        return filtered_infgram_next_tokens(self, prompt, top_k, conditions, self._filtered_budget())

    def infgram_probabilities(self, text: Query, where: Any = None) -> InfgramProbabilitiesResult:
        """The ∞-gram probability of every token of ``text`` given all the tokens before it
        (see :meth:`Corpus.infgram_probabilities <infgram.query.corpus.Corpus.infgram_probabilities>`);
        with ``where``, the ∞-gram of the documents whose metadata meet conditions (as in
        :meth:`infgram_probability`), within one default work budget for the whole text.

        >>> import infgram
        >>> index = infgram.Index.from_texts([{"text": "ab", "metadata": {"k": "x"}}, {"text": "ac", "metadata": {"k": "y"}}])
        >>> result = index.infgram_probabilities("ab", where={"k": "y"})
        >>> result.suffix_lengths, result.prompt_counts, result.counts
        ([0, 1], [2, 1], [1, 0])
        """
        conditions = conditions_of(where)
        if conditions is None:
            return super().infgram_probabilities(text)
        self.require("infgram_probabilities")
        return filtered_infgram_probabilities(self, text, conditions, self._filtered_budget())

    def _filtered_budget(self) -> int:
        """The work budget of a filtered n-gram or ∞-gram question (they take no max_work: the default, under a
        server's ceiling), as for next_tokens with where."""
        return work_limit(None, False, self.max_work_ceiling)

    # -- documents --------------------------------------------------------------------------------
    def document(self, number: int) -> Document:
        """Document ``number`` (0-based, in input order), whole, with its metadata."""
        return read_document(self, number, None, 0, None)

    def documents(self, query: Query, limit: int = 10, offset: int = 0, seed: int | None = None,
                  context: int | None = None, max_work: int | None = None, exact: bool = False,
                  exact_tokens: bool = False, whole_words: bool = False, ignore_case: bool = False,
                  inside_tokens: bool = False, progress: bool = False, where: Any = None,
                  by: str | None = None, estimate: bool = False) -> DocumentsResult:
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
        :meth:`inside_tokens_fields`). ``where`` keeps the documents whose metadata meet
        conditions (as in :meth:`count`); the count is then exact, every occurrence read
        within the budget (past it a :class:`~infgram.errors.LimitError`), and a seed orders
        the matching documents (see :func:`infgram.query.metadata.filtered_documents`).
        ``by`` (a metadata field) also gives the number of those documents per value of it
        (``by``) and of those lacking it (``missing``), exactly, the same way. With ``by`` or
        ``where``, ``estimate=True`` answers past the budget too, from a sample of the documents
        (``estimated=True``, the sample and 95% intervals; see
        :func:`infgram.query.metadata.estimated_documents`); under it, exactly (``estimated=False``).

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
        if where is not None or by is not None:
            return self._with_inside_tokens(filtered_documents(self, query, where, limit, offset, seed, context, budget,
                                                               matching, by, estimate), [query], matching.inside_tokens)
        if estimate is not False:
            raise QueryError(f"expected estimate with by or where (it estimates documents by metadata; a plain "
                             f"count of documents past the budget is a lower bound, num_documents_exact false), "
                             f"found estimate={estimate!r:.40} without them; add by or where, or leave estimate out")
        return self._with_inside_tokens(documents(self, query, limit, offset, seed, context, budget, matching, progress),
                                        [query], matching.inside_tokens)

    def search(self, cnf: Any, within: int | None = None, limit: int = 10, offset: int = 0,
               seed: int | None = None, context: int | None = None, max_work: int | None = None,
               exact: bool = False, exact_tokens: bool = False, whole_words: bool = False,
               ignore_case: bool = False, inside_tokens: bool = False, where: Any = None) -> SearchResult:
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
        in :meth:`documents`. ``where`` keeps the documents whose metadata meet conditions (as
        in :meth:`count`): the search of the sub-corpus they make.

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
                        work_limit(max_work, exact, self.max_work_ceiling), matching, where)
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
                  exact: bool = False, where: Any = None, mode: str = "maximal") -> AttributionResult:
        """The maximal spans of ``text`` that occur verbatim in the corpus, as OLMoTrace shows them.

        Spans are at least ``min_length`` tokens (default 32 in a byte index, 8 with a
        tokenizer); each has its count and number of documents, and up to ``examples``
        documents cut to ``context`` tokens around the match, unless it is in more than
        ``max_count`` documents (then it is ``common``). ``whole_words=True`` keeps the
        stretches that are whole words in the text and occur as whole words in the corpus,
        counted as such; ``max_work`` bounds the occurrences read (``exact=True`` lifts it).
        ``where`` keeps the documents whose metadata meet conditions (as in :meth:`count`):
        spans, counts and examples come from them only, every occurrence read within
        ``max_work``. See :mod:`infgram.query.attribution`.
        ``mode="olmotrace"`` gives OLMoTrace's spans
        instead (see :meth:`trace`, whose reply has more: scores, pieces, the prompt): the merged
        spans kept by its filter, each with the first ``examples`` of its retrieved documents
        (10 per piece) most relevant first, ``count`` the occurrences of its rarest piece and
        ``num_documents`` the documents retrieved (``max_count`` does not apply: no span is common).

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
        if mode == "olmotrace":
            if where is not None:
                raise UnsupportedOperationError("expected no where with mode olmotrace, found both: a trace "
                                                "ranks documents of the whole corpus; leave where out, or use "
                                                "mode maximal")
            if whole_words:
                raise QueryError("expected whole_words only with mode maximal, found it with mode olmotrace (whose "
                                 "spans never cut a word on a byte index); leave one out")
            traced = trace(self, text, "", 1 if min_length is None else min_length, DEFAULT_DOCUMENTS_PER_SPAN,
                           context, max_work, exact)
            return attribution_of_trace(traced, 1 if min_length is None else min_length, examples)
        if mode != "maximal":
            raise QueryError(f"expected mode to be maximal or olmotrace, found {mode!r:.40}")
        return attribute(self, text, min_length, max_count, examples, context, whole_words, max_work, exact, where)

    def trace(self, text: Query, prompt: Query = "", min_length: int = 1,
              documents_per_span: int = DEFAULT_DOCUMENTS_PER_SPAN, context: int | None = None,
              max_work: int | None = None, exact: bool = False) -> TraceResult:
        """Trace an output back to the corpus as OLMoTrace does: its maximal self-contained
        spans that occur verbatim, the ceil(0.05 x L) with the lowest span unigram probability,
        overlapping ones merged, up to ``documents_per_span`` documents per span (windows of
        ``context`` tokens), ranked by BM25 against ``prompt`` and the output, the document
        frequencies taken from the retrieved documents. Each retrieval stays within
        ``max_work`` (``exact=True`` lifts it). See :mod:`infgram.query.tracing`.

        >>> import infgram
        >>> index = infgram.Index.from_texts(["the cat sat on the mat", "a dog sat on a log"])
        >>> result = index.trace("my dog sat on a log", prompt="where did the dog sit?")
        >>> [(span.text, span.relevance, [d.index for d in span.documents]) for span in result.spans]
        [('dog sat on a log', 'high', [1])]
        """
        self.require("trace")
        return trace(self, text, prompt, min_length, documents_per_span, context, max_work, exact)

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
        if self.in_memory:
            return False  # nothing else can change it
        if [_generation(directory) for directory in self.directories] == \
                [generation_of(manifest) for manifest in self.manifests]:
            return False
        fresh = type(self)._open_files(self.directories, self.tokenizer if self.kind == OFFICIAL_KIND else None)
        residency = getattr(self, "residency", None)
        if residency is not None:
            fresh.tier_directory = self.tier_directory
            fresh.place(residency.requested, residency.tier_budget_bytes)
        ceiling = self.max_work_ceiling
        old_holds = self.holds
        self.__dict__.update(fresh.__dict__)  # one generation or the other, attribute by attribute
        self.max_work_ceiling = ceiling
        fresh.holds = []
        for hold in old_holds:  # queries still running keep their maps; the next change may delete the files
            hold.release()
        return True

    def close(self) -> None:
        """Let go of the generations this index holds, so that a change may delete their
        files (see :mod:`infgram.format.readers`); queries after it are not supported. An
        index that is garbage collected, or whose process ends, lets go the same way."""
        for hold in self.holds:
            hold.release()
        self.holds = []

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
        garbage_bytes = other_bytes = 0
        if self.in_memory:
            size = sum(shard.memory_bytes for shard in self.shards if isinstance(shard, MemorySAShard))
        else:
            size = 0
            for directory, manifest in zip(self.directories, self.manifests):
                if self.kind == OFFICIAL_KIND:
                    size += directory_bytes(directory)
                    continue
                index_bytes, garbage, other = _directory_sizes(directory, manifest)
                size, garbage_bytes, other_bytes = size + index_bytes, garbage_bytes + garbage, other_bytes + other
        info = {
            "directory": ",".join(str(directory) for directory in self.directories) or None,
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
            "garbage_bytes": garbage_bytes,
            "other_bytes": other_bytes,
            "operations": sorted(self.operations),
            "generation": self.generation,
            "num_removed_documents": len(self.shard_set.removed_documents()),
            "normalization": (self.manifest.tokenizer or {}).get("normalize"),
        }
        if self.in_memory:
            info["in_memory"] = True
        changes = [change for manifest in self.manifests for change in manifest.changes or []]
        if changes:
            info["changes"] = changes[-20:]
        residency = getattr(self, "residency", None)
        if residency is not None:
            info["memory"] = residency.describe()
        if self.kind == OFFICIAL_KIND:
            info["official"] = {**self.manifest.settings, "format_version": 4, "read_only": True,
                                "cannot": ["add", "remove", "compact", "deduplicate", "verify"],
                                "token_dtype": f"u{8 * self.token_width}"}
        elif self.manifest.settings is not None:  # the kind's own settings (an FM-index's sampling rates)
            info["sample_rate"] = self.manifest.settings["sample_rate"]
            info["isa_rate"] = self.manifest.settings.get("isa_rate")
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
        damaged file. An index in memory has no files: nothing to check. ``on_chunk`` is called
        with the bytes of every chunk read (of :meth:`verify_bytes` in all): progress, and a place
        to pause or stop."""
        if self.kind == OFFICIAL_KIND:
            raise UnsupportedOperationError("an official infini-gram index has no checksums to verify; its files are "
                                            "checked when it opens (sizes, document offsets, a sample of its table)")
        for directory, manifest in zip(self.directories, self.manifests):
            for entry in manifest.shards:
                for file in entry.files.values():
                    path = directory / file["path"]
                    read_header(path)  # the checksum covers the payload; the header is checked whole
                    if file_sha256(path, on_chunk=on_chunk) != file["sha256"]:
                        raise IndexFormatError(f"{path} does not match its checksum in the manifest; "
                                               "the file is damaged: rebuild the index")
