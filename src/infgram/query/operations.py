"""Every query operation defined once: its parameters, how each travels as JSON, its result, its cost.

The methods of :class:`~infgram.Index` and :class:`~infgram.Client`, the requests of the JSON
Lines batch and of HTTP (:mod:`infgram.service.protocol`), the OpenAPI models of the server
and the flags of the command line all name the same parameters with the same defaults. This
registry is where those are written down; the protocol reads requests from it (so a field
no operation defines is refused, with the nearest valid name), the server builds its
request models from it, the client its methods, the command line its options (and a command
for each operation no command runs by hand), and ``tests/service/test_operation_registry.py``
checks every method signature and every command-line option against it. Adding an operation
takes its entry here and its method of :class:`~infgram.Index`.

An operation is a list of :class:`Parameter`, in the order of the Python method. A
parameter travels in JSON under its ``field`` name, or under one of its ``aliases`` (the
same value in another shape: ``ids`` for the token ids of a ``text``); a parameter with no
field is Python only (``exact``, ``progress``), and one with ``python=False`` is a JSON
field only (``inside_tokens`` of ``count``, whose Python answer is a bare number). Every
request may also carry an ``id`` (a string or an integer), which its reply echoes, so that
replies can be matched to requests.

``cost`` is ``"cheap"`` for the operations that take microseconds in the engine whatever
the corpus (a server answers them first) and ``"expensive"`` for those whose cost grows with
the occurrences or documents they read.

>>> OPERATIONS["next_tokens"].fields()
['prompt', 'prompt_ids', 'text', 'ids', 'top_k', 'exact_tokens', 'inside_tokens', 'where']
>>> [p.name for p in OPERATIONS["documents"].parameters][:3], OPERATIONS["documents"].cost
(['query', 'limit', 'offset'], 'expensive')
>>> OPERATIONS["contamination"].result.__module__  # an application's result, named lazily
'infgram.apps.contamination'
>>> unknown_field("next_tokens", {"op": "next_tokens", "text": "a", "topk": 3})
"expected the fields of a next_tokens request (prompt, prompt_ids, text, ids, top_k, exact_tokens, inside_tokens, where, and op, id), found 'topk'; did you mean 'top_k'?"
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import Any, Optional, Union

from . import results
from .budget import DEFAULT_MAX_WORK
from .drafting import MAX_DRAFT_TOKENS
from .encoding import MAX_DOCUMENTS_LIMIT
from .novelty import DEFAULT_MAX_N, MAX_N_LIMIT
from .tracing import DEFAULT_DOCUMENTS_PER_SPAN, MAX_DOCUMENTS_PER_SPAN


class _Required:
    """The default of a parameter that has none."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""The default of a required parameter."""


@dataclass(frozen=True)
class PhraseIds:
    """A phrase given as token ids, ``{"ids": [...]}`` (the type of the OpenAPI models)."""

    ids: list[int]


Phrase = Union[str, PhraseIds]
"""A phrase of ``search`` and ``cooccurrence`` in JSON: a string, or ``{"ids": [...]}``."""

REQUEST_ID_TYPE = Union[str, int]
"""The type of a request's ``id``, echoed in its reply."""

ALWAYS_ALLOWED = ("op", "id")
"""The fields every request may carry besides those of its operation."""


@dataclass(frozen=True)
class Parameter:
    """One parameter of an operation: its Python name and default, and how it travels as JSON."""

    name: str
    """The parameter's name in the Python method."""
    kind: str
    """How its value is read from a request: ``sequence`` (a string under ``field`` or ids
    under the first alias), ``prompt_or_text`` (a prompt under ``prompt``/``prompt_ids`` or
    ``text``/``ids``), ``next_token`` (``next`` or ``next_id``), ``integer``, ``flag``,
    ``number``, ``document_number``, ``choice`` (a string naming a mode), ``optional_sequence``
    (a ``sequence`` that may be left out, then empty), ``cnf``, ``phrases``, ``pairs``, ``lengths`` (one
    integer or a list), ``field`` (a metadata field name), ``where`` (metadata conditions),
    ``queries`` (a list of strings and lists of ids), ``python`` (not in JSON)."""
    type: Any
    """The JSON type of the value under ``field`` (for the OpenAPI models)."""
    default: Any = REQUIRED
    doc: str = ""
    field: str | None = None
    """Its name in JSON (None: Python only)."""
    aliases: tuple[tuple[str, Any], ...] = ()
    """Other JSON names for the same value, with their types (``ids`` for ``text``)."""
    python: bool = True
    """Whether the Python method takes it (False: JSON only)."""
    minimum: int | None = None
    maximum: int | None = None

    @property
    def required(self) -> bool:
        """Whether a request must give it."""
        return self.default is REQUIRED

    def fields(self) -> list[str]:
        """Its JSON names: the field, then the aliases."""
        return ([self.field] if self.field else []) + [name for name, _ in self.aliases]


class _ResultType:
    """The ``result`` of an :class:`Operation`: a type, or the dotted name of one in a layer
    above this one (an application's result, such as contamination's), imported when first read."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.attribute = "_" + name

    def __get__(self, operation: Any, owner: type | None = None) -> Any:
        if operation is None:
            return None  # the field's default: no result type, a bare number
        result = operation.__dict__[self.attribute]
        if isinstance(result, str):
            module, _, name = result.rpartition(".")
            result = getattr(importlib.import_module(module), name)
        return result

    def __set__(self, operation: Any, result: Any) -> None:
        operation.__dict__[self.attribute] = result


@dataclass(frozen=True)
class Operation:
    """One operation: its parameters in Python order, its result type, its summary and cost."""

    name: str
    summary: str
    parameters: tuple[Parameter, ...]
    result: Any = _ResultType()
    """The result dataclass (:mod:`infgram.query.results`, or the dotted name of an application's,
    ``"infgram.apps.contamination.EntryContamination"``); None for a bare number."""
    cost: str = "cheap"
    request: bool = True
    """Whether a request can name it (``op``); every operation so far."""
    index_method: bool = True
    """Whether :class:`~infgram.Index` and :class:`~infgram.Client` have it as a method."""

    @property
    def expensive(self) -> bool:
        """Whether its cost grows with what it reads (a server bounds how many run at once)."""
        return self.cost == "expensive"

    def python_parameters(self) -> list[Parameter]:
        """The parameters of the Python method, in order."""
        return [parameter for parameter in self.parameters if parameter.python]

    def fields(self) -> list[str]:
        """Every JSON field of a request (besides ``op`` and ``id``)."""
        return [name for parameter in self.parameters for name in parameter.fields()]


# -- parameters shared by several operations ----------------------------------------------------------
def _sequence(name: str, doc: str) -> Parameter:
    return Parameter(name, "sequence", Optional[str], doc=doc + " (a string; or its token ids as ids)",
                     field="text", aliases=(("ids", Optional[list[int]]),))


def _prompt(doc: str = "the prompt") -> Parameter:
    return Parameter("prompt", "sequence", Optional[str], doc=doc + " (a string; or its token ids as prompt_ids)",
                     field="prompt", aliases=(("prompt_ids", Optional[list[int]]),))


_PROMPT_OR_TEXT = Parameter("prompt", "prompt_or_text", Optional[str],
                            doc="the prompt (a string; or prompt_ids; text and ids are accepted too)",
                            field="prompt", aliases=(("prompt_ids", Optional[list[int]]), ("text", Optional[str]),
                                                     ("ids", Optional[list[int]])))
_NEXT_TOKEN = Parameter("next_token", "next_token", Optional[str],
                        doc="the next token: exactly one token as text (or its id as next_id)",
                        field="next", aliases=(("next_id", Optional[int]),))
_TOP_K = Parameter("top_k", "integer", Optional[int], None, "entries of the distribution, most frequent first "
                   "(None: all)", field="top_k", minimum=0)


def _flag(name: str, doc: str, python: bool = True) -> Parameter:
    return Parameter(name, "flag", bool, False, doc, field=name, python=python)


_EXACT_TOKENS = _flag("exact_tokens", "search precisely the tokenizer's encoding of a text, not every form it takes")
_INSIDE_TOKENS = _flag("inside_tokens", "tokenized indexes: also say whether the text occurs starting or ending "
                                        "inside tokens (milliseconds)")
_WHOLE_WORDS = _flag("whole_words", "only occurrences with no word character just before or after")
_IGNORE_CASE = _flag("ignore_case", "match every case variant (byte indexes)")
_MAX_WORK = Parameter("max_work", "integer", Optional[int], None,
                      f"the work budget (default {DEFAULT_MAX_WORK:,}; a server's --max-work caps it)",
                      field="max_work", minimum=0)
_EXACT = Parameter("exact", "python", bool, False, "lift the work budget (remotely: the most the server allows)")
_PAGE = (
    Parameter("limit", "integer", Optional[int], 10, "documents to return", field="limit", minimum=0,
              maximum=MAX_DOCUMENTS_LIMIT),
    Parameter("offset", "integer", Optional[int], 0, "documents to skip first", field="offset", minimum=0),
    Parameter("seed", "integer", Optional[int], None, "a random but reproducible order (None: index order)",
              field="seed", minimum=0),
    Parameter("context", "integer", Optional[int], None, "tokens shown on each side of the first match (None: "
              "whole documents)", field="context", minimum=0),
)
_MATCHING = (_EXACT_TOKENS, _WHOLE_WORDS, _IGNORE_CASE, _INSIDE_TOKENS)
_BY = Parameter("by", "field", Optional[str], None, "a metadata field (e.g. lang or meta.lang): the count per value "
                "of it, and in documents lacking it (see infgram.query.metadata)", field="by")
_WHERE = Parameter("where", "where", Optional[Union[dict[str, Any], list[str]]], None,
                   'only documents whose metadata meet these conditions: {"lang": "de"}, {"lang": {"in": [...]}}, '
                   '{"lang": {"not": "de"}}, {"year": {"gte": 1990, "lt": 2000}}, or ["lang=de", "year>=1990"]',
                   field="where")


OPERATIONS: dict[str, Operation] = {operation.name: operation for operation in (
    Operation("count", "occurrences of a sequence", (
        _sequence("query", "the sequence"), _EXACT_TOKENS, _WHOLE_WORDS, _IGNORE_CASE, _MAX_WORK, _EXACT, _BY, _WHERE,
        _flag("estimate", "with by or where: past the work budget, estimate from a sample, with 95% intervals, "
                          "instead of refusing (see infgram.query.estimation)"),
        _flag("inside_tokens", _INSIDE_TOKENS.doc, python=False)), None),
    Operation("probability", "count(prompt + next) / count(prompt)", (
        _prompt(), _NEXT_TOKEN, _EXACT_TOKENS, _INSIDE_TOKENS, _WHERE), results.ProbabilityResult),
    Operation("next_tokens", "the exact next-token distribution after a prompt", (
        _PROMPT_OR_TEXT, _TOP_K, _EXACT_TOKENS, _INSIDE_TOKENS, _WHERE), results.NextTokensResult),
    Operation("infgram_probability", "the ∞-gram probability of a next token", (
        _prompt(), _NEXT_TOKEN, _EXACT_TOKENS, _WHERE), results.InfgramProbabilityResult),
    Operation("infgram_next_tokens", "the next-token distribution after the longest suffix of the prompt that occurs",
              (_PROMPT_OR_TEXT, _TOP_K, _WHERE), results.InfgramNextTokensResult),
    Operation("document", "one document by its number, whole, with its metadata", (
        Parameter("number", "document_number", int, doc="the document's number (0-based, in input order)",
                  field="document", minimum=0),), results.Document),
    Operation("documents", "the documents that contain a sequence", (
        _sequence("query", "the sequence"), *_PAGE, _MAX_WORK, _EXACT, *_MATCHING,
        Parameter("progress", "python", bool, False, "show a progress bar while reading (ignored remotely)"),
        _WHERE, Parameter("by", "field", Optional[str], None, "a metadata field: the number of documents per value of "
                          "it, and of those lacking it", field="by"),
        _flag("estimate", "with by or where: past the work budget, estimate the documents from a sample, with 95% "
                          "intervals, instead of refusing (see infgram.query.metadata.estimated_documents)")),
        results.DocumentsResult, "expensive"),
    Operation("search", "documents matching an AND of ORs of phrases", (
        Parameter("cnf", "cnf", Union[list[list[Phrase]], str],
                  doc='clauses of phrases (an AND of ORs), or a query string such as "a b" AND (c OR d)', field="cnf"),
        Parameter("within", "integer", Optional[int], None, "one occurrence of every clause within this many tokens "
                  "of the others", field="within", minimum=0),
        *_PAGE, _MAX_WORK, _EXACT, *_MATCHING, _WHERE), results.SearchResult, "expensive"),
    Operation("attribute", "the spans of a text that occur verbatim, with their sources", (
        _sequence("text", "the text"),
        Parameter("min_length", "integer", Optional[int], None, "shortest span in tokens (None: 32 in a byte index, "
                  "8 with a tokenizer)", field="min_length", minimum=0),
        Parameter("max_count", "integer", Optional[int], 100, "spans in more documents are common, without examples",
                  field="max_count", minimum=0),
        Parameter("examples", "integer", Optional[int], 3, "example documents per span", field="examples", minimum=0,
                  maximum=1000),
        Parameter("context", "integer", Optional[int], None, "tokens of context around each example",
                  field="context", minimum=0),
        _WHOLE_WORDS, _MAX_WORK, _EXACT, _WHERE,
        Parameter("mode", "choice", str, "maximal", "maximal (every maximal span) or olmotrace (OLMoTrace's rarest "
                  "spans, merged, documents ranked by BM25: see trace)", field="mode")), results.AttributionResult,
        "expensive"),
    Operation("trace", "an OLMoTrace-style trace: the rarest verbatim spans of an output, with ranked documents", (
        _sequence("text", "the output"),
        Parameter("prompt", "optional_sequence", Optional[str], "", "the prompt the output answers (its words count "
                  "in the BM25 ranking; a string, or its token ids as prompt_ids)", field="prompt",
                  aliases=(("prompt_ids", Optional[list[int]]),)),
        Parameter("min_length", "integer", Optional[int], 1, "shortest span in tokens", field="min_length",
                  minimum=0),
        Parameter("documents_per_span", "integer", Optional[int], DEFAULT_DOCUMENTS_PER_SPAN,
                  "documents retrieved per kept span", field="documents_per_span", minimum=0,
                  maximum=MAX_DOCUMENTS_PER_SPAN),
        Parameter("context", "integer", Optional[int], None, "tokens of each document window (None: 500 in a byte "
                  "index, 100 with a tokenizer)", field="context", minimum=0),
        _MAX_WORK, _EXACT), results.TraceResult, "expensive"),
    Operation("longest_matches", "the longest match starting at every token of a text", (
        _sequence("text", "the text"),), results.LongestMatchesResult, "expensive"),
    Operation("infgram_probabilities", "the ∞-gram probability of every token of a text", (
        _sequence("text", "the text"), _WHERE), results.InfgramProbabilitiesResult, "expensive"),
    Operation("cooccurrence", "counts of phrases and of the documents that hold pairs of them", (
        Parameter("phrases", "phrases", list[Phrase], doc="the phrases", field="phrases"),
        Parameter("pairs", "pairs", Optional[list[tuple[int, int]]], None, "pairs of phrase numbers (None: all "
                  "pairs)", field="pairs"),
        _flag("document_counts", "also the number of documents of each phrase"),
        _MAX_WORK, _EXACT, *_MATCHING), results.CooccurrenceResult, "expensive"),
    Operation("contamination", "how much of a benchmark entry occurs in the corpus", (
        Parameter("text", "text", str, doc="one benchmark entry", field="text"), _WHERE),
        "infgram.apps.contamination.EntryContamination", "expensive", index_method=False),
    Operation("draft", "a greedy ∞-gram continuation of a prompt", (
        _prompt(),
        Parameter("max_tokens", "integer", Optional[int], 16, "tokens to draft at most", field="max_tokens",
                  minimum=0, maximum=MAX_DRAFT_TOKENS),
        Parameter("min_probability", "number", Optional[float], 0.0, "stop below this probability",
                  field="min_probability"),
        Parameter("min_count", "integer", Optional[int], 1, "stop below this count", field="min_count", minimum=0),
        Parameter("max_suffix_tokens", "integer", Optional[int], None, "the longest suffix of the prompt the "
                  "∞-gram looks at (None: all of it)", field="max_suffix_tokens", minimum=0)),
        results.DraftResult, "expensive"),
    Operation("novelty", "the share of a text's n-grams that occur nowhere in the corpus, for each n", (
        _sequence("text", "the text"),
        Parameter("max_n", "integer", Optional[int], DEFAULT_MAX_N, "n from 1 to this", field="max_n", minimum=0,
                  maximum=MAX_N_LIMIT)), results.NoveltyResult, "expensive"),
    Operation("creativity", "the Creativity Index: how much of a text no long-enough span of the corpus covers", (
        _sequence("text", "the text"),
        Parameter("min_length", "lengths", Optional[Union[int, list[int]]], None,
                  "the span lengths L to sum the L-uniqueness over: one or a list (None: 5 .. 12)",
                  field="min_length")), results.CreativityResult, "expensive"),
    Operation("count_batch", "the counts of many queries, in one request", (
        Parameter("queries", "queries", list[Union[str, list[int]]],
                  doc="strings or id sequences (in Python also a 2-D array of ids)", field="queries"),
        _EXACT_TOKENS, _WHOLE_WORDS, _IGNORE_CASE, _MAX_WORK, _EXACT), None, "expensive"),
)}
"""Every operation, in the order of the protocol."""

REQUESTS: dict[str, Operation] = {name: operation for name, operation in OPERATIONS.items() if operation.request}
"""The operations a request can name (``op``)."""

METHOD_ORDER = ("count", "count_batch", "probability", "next_tokens", "infgram_probability", "infgram_next_tokens",
                "infgram_probabilities", "longest_matches", "documents", "document", "search", "cooccurrence",
                "attribute", "trace", "draft", "novelty", "creativity")
"""The query methods that :class:`~infgram.Index` and :class:`~infgram.Client` both have."""

CHEAP = frozenset(name for name, operation in REQUESTS.items() if not operation.expensive)
"""The cheap operations: count, probability, next_tokens, infgram_probability, infgram_next_tokens, document."""


def unknown_field(op: str, request: dict[str, Any]) -> str | None:
    """The message refusing the first field of ``request`` that ``op`` does not define (None
    when there is none), with the nearest valid name."""
    operation = REQUESTS[op]
    known = operation.fields()
    for name in request:
        if name in known or name in ALWAYS_ALLOWED:
            continue
        shown = repr(name) if isinstance(name, str) and len(name) <= 80 else repr(str(name)[:77] + "...")
        nearest = difflib.get_close_matches(str(name), known + list(ALWAYS_ALLOWED), n=1, cutoff=0.6)
        hint = f"; did you mean {nearest[0]!r}?" if nearest else "; remove it"
        return (f"expected the fields of a {op} request ({', '.join(known)}, and op, id), found {shown}{hint}")
    return None


__all__ = ["Parameter", "Operation", "OPERATIONS", "REQUESTS", "METHOD_ORDER", "CHEAP", "REQUIRED", "Phrase",
           "PhraseIds", "REQUEST_ID_TYPE", "ALWAYS_ALLOWED", "unknown_field"]
