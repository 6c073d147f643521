"""The ``infgram`` command line: build an index, query it, run batches, run the demo.

Every subcommand prints its answer on stdout (``--json`` for programs) and, on an error,
one line on stderr and exit status 1 (2 for a misused command line).
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
from typing import Any, Sequence

from . import __version__
from .errors import InfgramError, QueryError
from .terminal import safe


def _query(text: str, ids: bool) -> Any:
    """The query as given: text, or with --ids a list of ids separated by commas or spaces."""
    if not ids:
        return text
    parts = text.replace(",", " ").split()
    try:
        return [int(part) for part in parts]
    except ValueError:
        raise QueryError(f"expected token ids separated by commas or spaces with --ids, found {text!r}") from None


def _next(args: argparse.Namespace) -> Any:
    if args.next_id is not None:
        return args.next_id
    return args.next


_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029]")


def _print_json(value: Any) -> None:
    """One line of JSON; the control characters JSON leaves raw (DEL, C1) are escaped too."""
    text = json.dumps(value, ensure_ascii=False, indent=None)
    print(_JSON_UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text))


def _print_distribution(tokenizer: Any, prompt_count: int, tokens: list[Any], suffix_length: int | None = None) -> None:
    head = f"prompt count {prompt_count:,}"
    if suffix_length is not None:
        head = f"longest suffix that occurs: {_plural(suffix_length, 'token')}; " + head
    print(head)
    for rank, token in enumerate(tokens, start=1):
        name = "<end of document>" if token.id is None else repr(tokenizer.token_piece(token.id))
        identifier = "-" if token.id is None else str(token.id)
        print(f"{rank:>4}  {identifier:>8}  {name:<24}  {token.count:>12,}  {token.probability:.6f}")


def _open(args: argparse.Namespace):
    from .query.index import Index

    if getattr(args, "ray", None) is not None:  # shards held by actors of a Ray cluster
        from .distributed import open as open_on_cluster

        return open_on_cluster(args.index, address=args.ray)
    return Index.open(args.index)


def command_build(args: argparse.Namespace) -> None:
    from .build.pipeline import build

    if args.ray is not None:  # the same build, spread over a Ray cluster
        from .distributed import build as build_on_cluster

        build = functools.partial(build_on_cluster, address=args.ray)
    report = build(
        args.inputs, args.out, tokenizer=args.tokenizer, text_field=args.text_field, on_error=args.on_error,
        memory=args.memory, shard_tokens=args.shard_tokens, overwrite=args.overwrite, progress=not args.quiet,
        kind=args.kind, sample_rate=args.sample_rate,
    )
    if args.quiet:
        print(report.summary())


def command_count(args: argparse.Namespace) -> None:
    count = _open(args).count(_query(args.query, args.ids))
    _print_json({"count": count}) if args.json else print(count)


def command_probability(args: argparse.Namespace) -> None:
    if args.next is None and args.next_id is None:
        raise QueryError("expected the next token as --next TEXT or --next-id ID, found neither")
    result = _open(args).probability(_query(args.prompt, args.ids), _next(args))
    if args.json:
        _print_json(result.to_dict())
    else:
        print(f"count(prompt) {result.prompt_count:,}  count(prompt + next) {result.count:,}  probability {result.probability}")


def command_next(args: argparse.Namespace) -> None:
    index = _open(args)
    result = index.next_tokens(_query(args.prompt, args.ids), top_k=args.top_k)
    _print_json(result.to_dict()) if args.json else _print_distribution(index.tokenizer, result.prompt_count, result.tokens)


def command_infgram(args: argparse.Namespace) -> None:
    index = _open(args)
    prompt = _query(args.prompt, args.ids)
    if args.next is None and args.next_id is None:
        result = index.infgram_next_tokens(prompt, top_k=args.top_k)
        if args.json:
            _print_json(result.to_dict())
        else:
            _print_distribution(index.tokenizer, result.prompt_count, result.tokens, result.suffix_length)
        return
    result = index.infgram_probability(prompt, _next(args))
    if args.json:
        _print_json(result.to_dict())
    else:
        print(f"longest suffix that occurs: {_plural(result.suffix_length, 'token')}; count(suffix) {result.prompt_count:,}  "
              f"count(suffix + next) {result.count:,}  probability {result.probability}")


def command_documents(args: argparse.Namespace) -> None:
    if args.command == "docs":
        print("infgram: `docs` is now `documents`; the old name will be removed in a later version", file=sys.stderr)
    result = _open(args).documents(_query(args.query, args.ids), limit=args.limit, offset=args.offset,
                                   seed=args.seed, context=_context(args))
    if args.json:
        _print_json(result.to_dict())
        return
    verb = "contains" if result.num_documents == 1 else "contain"
    _print_documents(f"{_plural(result.num_documents, 'document')} {verb} the query", result.documents)


DEFAULT_CONTEXT = 100
"""Tokens shown on each side of a match by ``documents`` and ``search``, unless --whole."""


def _context(args: argparse.Namespace) -> int | None:
    """The window around matches: --context, none with --whole, else the default."""
    if args.whole:
        if args.context is not None:
            raise QueryError("expected --context or --whole, found both; keep one")
        return None
    return DEFAULT_CONTEXT if args.context is None else args.context


def _plural(number: int, noun: str, plural: str | None = None) -> str:
    """``1 document``, ``2 documents``; ``1 entry``, ``2 entries``."""
    return f"{number:,} {noun if number == 1 else plural or noun + 's'}"


def _print_documents(heading: str, documents: list[Any]) -> None:
    """A heading, then each document with its metadata and its matches marked."""
    from .terminal import mark_spans

    print(heading)
    for document in documents:
        print(f"--- document {document.index} {safe(json.dumps(document.metadata, ensure_ascii=False))}")
        print(mark_spans(document.text, document.spans, color=sys.stdout.isatty()))


def command_search(args: argparse.Namespace) -> None:
    query: Any = args.query
    if args.ids:
        from .query.search import parse_query

        query = [[_query(phrase, True) for phrase in clause] for clause in parse_query(args.query)]
    result = _open(args).search(query, within=args.within, limit=args.limit, offset=args.offset,
                                seed=args.seed, context=_context(args))
    if args.json:
        _print_json(result.to_dict())
        return
    verb = "matches" if result.num_documents == 1 else "match"
    _print_documents(f"{_plural(result.num_documents, 'document')} {verb}, at {_plural(result.sites, 'site')}",
                     result.documents)


def _read_text(args: argparse.Namespace) -> str:
    if (args.text is None) == (args.file is None):
        raise QueryError("expected the text to attribute as --text TEXT or --file PATH (- for standard input), "
                         "found " + ("neither" if args.text is None else "both"))
    if args.text is not None:
        return args.text
    try:
        if args.file == "-":
            return sys.stdin.read()
        with open(args.file, encoding="utf-8") as handle:
            return handle.read()
    except OSError as error:
        raise QueryError(f"cannot read {args.file}: {error.strerror}; give a readable UTF-8 text file") from None
    except UnicodeDecodeError as error:
        raise QueryError(f"expected UTF-8 text in {args.file}, found invalid bytes at byte {error.start}; "
                         "convert the file to UTF-8") from None


def command_attribute(args: argparse.Namespace) -> None:
    from .terminal import render

    index = _open(args)
    text = _read_text(args)
    query = _query(text, True) if args.ids else text
    result = index.attribute(query, min_length=args.min_length, max_count=args.max_count, examples=args.examples,
                             context=args.context)
    if args.json:
        reply = result.to_dict()
        if args.longest_matches:
            reply["longest_matches"] = index.longest_matches(query).to_dict()
        _print_json(reply)
    else:
        print(render(result, color=sys.stdout.isatty()))


def command_info(args: argparse.Namespace) -> None:
    info = _open(args).info()
    if args.json:
        _print_json(info)
    else:
        for key, value in info.items():
            if isinstance(value, list):
                value = ", ".join(map(str, value))
            print(f"{key:>16}  {value:,}" if isinstance(value, int) else f"{key:>16}  {safe(str(value))}")


def command_verify(args: argparse.Namespace) -> None:
    index = _open(args)
    index.verify()
    print(f"{safe(args.index)}: every file matches its checksum")


def command_batch(args: argparse.Namespace) -> None:
    from .service.batch import run_batch

    index = _open(args)
    output = sys.stdout
    for reply in run_batch(index, sys.stdin):
        output.write(reply)
        output.write("\n")
    output.flush()


def command_contamination(args: argparse.Namespace) -> None:
    from .apps.contamination import contamination_report, summary_table

    summary = contamination_report(args.index, args.benchmark, args.field, args.out, examples=not args.no_examples,
                                   progress=not args.quiet)
    if args.json:
        _print_json(summary)
        return
    print(f"{summary['benchmark']} (fields: {' + '.join(summary['fields'])}) against {summary['index']} "
          f"({summary['index_documents']:,} documents, {summary['index_bytes_of_text']:,} bytes of text)")
    print(summary_table(summary))
    print(f"{_plural(summary['num_entries'], 'entry', 'entries')} in {summary['seconds']:.1f} s "
          f"({summary['entries_per_minute'] or 0:,} entries per minute)")
    if args.out is not None:
        print(f"wrote entries.jsonl, summary.json and report.html to {args.out}")
    else:
        print("pass --out DIR to write entries.jsonl, summary.json and report.html")


def command_demo(args: argparse.Namespace) -> None:
    from .apps.demo import run_demo

    run_demo(args.out, rebuild=args.rebuild, progress=not args.quiet)


def command_serve(args: argparse.Namespace) -> None:
    try:
        from .service.server import Settings, index_names, serve
    except ImportError as error:
        raise InfgramError(f"expected the serve extra to be installed, found {error.name or 'a module'} missing; "
                           "install it with: pip install 'infgram[serve]'") from None
    from .service.http import Limits

    keys: list[str] = []
    if args.api_key_file is not None:
        try:
            with open(args.api_key_file, encoding="utf-8") as file:
                keys = [line.strip() for line in file if line.strip()]
        except OSError as error:
            raise InfgramError(f"expected a readable API key file, found {error}; give one key per line") from None
        if not keys:
            raise InfgramError(f"expected at least one API key in {args.api_key_file}, found none; one key per line")
    settings = Settings(index_names(args.index), max_work=args.max_work, api_keys=keys, rate_limit=args.rate_limit,
                        cors=args.cors, cache=args.cache, queue=args.queue,
                        limits=Limits(max_body_bytes=args.max_body_bytes))
    if args.threads is not None:
        settings.threads = settings.expensive_threads = args.threads
    serve(settings, host=args.host, port=args.port, workers=args.workers, access_log=not args.no_access_log)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="infgram", description="Exact n-gram and ∞-gram search over any corpus.")
    parser.add_argument("--version", action="version", version=f"infgram {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    index_help = "index directory, or several separated by commas (answered as one index)"

    def with_index(name: str, help_text: str, aliases: Sequence[str] = ()) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text, aliases=list(aliases))
        sub.add_argument("index", help=index_help)
        sub.add_argument("--json", action="store_true", help="print JSON")
        sub.add_argument("--ids", action="store_true", help="queries are token ids, separated by commas or spaces")
        return sub

    sub = commands.add_parser("build", help="index files or directories", description="Index a corpus.")
    sub.add_argument("inputs", nargs="+", help=".jsonl/.json/.txt/.parquet files (optionally .gz/.zst) or directories")
    sub.add_argument("--out", required=True, help="index directory to write")
    sub.add_argument("--tokenizer", default="bytes", help="'bytes' (default) or a Hugging Face tokenizer.json")
    sub.add_argument("--text-field", default="text", help="JSON field or Parquet column with the text (default text)")
    sub.add_argument("--on-error", choices=["fail", "skip"], default="fail",
                     help="on a bad record: stop (default) or skip it and report it at the end")
    sub.add_argument("--memory", default=None, help="memory budget for sorting, e.g. 8G (default: half of the machine's memory)")
    sub.add_argument("--shard-tokens", type=int, default=None, help="tokens per shard (overrides --memory)")
    sub.add_argument("--overwrite", action="store_true", help="replace an index built from other inputs")
    sub.add_argument("--kind", choices=["sa", "fm"], default="sa",
                     help="sa: suffix array, every query (default); fm: compressed FM-index over bytes, "
                          "~0.34 bytes per byte, count and documents only")
    sub.add_argument("--sample-rate", type=int, default=None,
                     help="FM-index: sample one text position in N (default 128); smaller locates faster, costs more space")
    sub.add_argument("--quiet", action="store_true", help="no progress bars")
    ray_help = ("run on a Ray cluster: 'local' (this machine), 'auto' (the running cluster) or its address; the "
                "index and inputs on a filesystem every node sees; needs pip install 'infgram[ray]'")
    sub.add_argument("--ray", default=None, metavar="ADDRESS", help=ray_help)
    sub.set_defaults(func=command_build)

    sub = with_index("count", "count the occurrences of a sequence")
    sub.add_argument("query")
    sub.set_defaults(func=command_count)

    for name, func, help_text in (("probability", command_probability, "count(prompt + next) / count(prompt)"),
                                  ("infgram", command_infgram, "∞-gram probability, or distribution without --next")):
        sub = with_index(name, help_text)
        sub.add_argument("prompt")
        sub.add_argument("--next", default=None, help="the next token, as text (exactly one token)")
        sub.add_argument("--next-id", type=int, default=None, help="the next token, as an id")
        if name == "infgram":
            sub.add_argument("--top-k", type=int, default=10, help="without --next: entries of the distribution to show")
        sub.set_defaults(func=func)

    sub = with_index("next", "the exact next-token distribution after a prompt")
    sub.add_argument("prompt")
    sub.add_argument("--top-k", type=int, default=10, help="entries to show (default 10)")
    sub.set_defaults(func=command_next)

    def with_paging(sub: argparse.ArgumentParser, context_help: str) -> None:
        sub.add_argument("--limit", type=int, default=5)
        sub.add_argument("--offset", type=int, default=0)
        sub.add_argument("--seed", type=int, default=None, help="random but reproducible order")
        sub.add_argument("--context", type=int, default=None,
                         help=context_help + f" (default {DEFAULT_CONTEXT}; --whole shows whole documents)")
        sub.add_argument("--whole", action="store_true", help="show whole documents instead of a window")

    sub = with_index("documents", "documents that contain a sequence", aliases=["docs"])
    sub.add_argument("query")
    with_paging(sub, "show this many tokens around the match")
    sub.set_defaults(func=command_documents)

    sub = with_index("search", "documents matching an AND of ORs of phrases, e.g. '\"a b\" AND (c OR d)'")
    sub.add_argument("query", help='phrases in double quotes (or single words) joined by AND and OR; '
                                   'parentheses group an OR, e.g. \'"natural language" AND (model OR models)\'; '
                                   'with --ids each phrase is token ids, e.g. \'"1 2" AND 3\'')
    sub.add_argument("--within", type=int, default=None,
                     help="one occurrence of every clause must begin within this many tokens of the others")
    with_paging(sub, "show this many tokens around the first match")
    sub.set_defaults(func=command_search)

    sub = with_index("attribute", "the spans of a text (e.g. a model's output) that occur verbatim in the corpus")
    sub.add_argument("--text", default=None, help="the text to attribute")
    sub.add_argument("--file", default=None, help="read the text from a file (- for standard input)")
    sub.add_argument("--min-length", type=int, default=None,
                     help="shortest span in tokens (default 32 in a byte index, 8 with a tokenizer)")
    sub.add_argument("--max-count", type=int, default=100,
                     help="spans in more documents than this are reported as common, without examples")
    sub.add_argument("--examples", type=int, default=3, help="example documents per span")
    sub.add_argument("--context", type=int, default=None, help="tokens of context around each example match")
    sub.add_argument("--longest-matches", action="store_true",
                     help="with --json, add the longest match at every token (matching statistics)")
    sub.set_defaults(func=command_attribute)

    sub = commands.add_parser("info", help="what an index holds", description="What an index holds.")
    sub.add_argument("index", help=index_help)
    sub.add_argument("--json", action="store_true")
    sub.set_defaults(func=command_info)

    sub = commands.add_parser("verify", help="check every file against its checksum")
    sub.add_argument("index", help=index_help)
    sub.set_defaults(func=command_verify)

    from .service.protocol import OPERATIONS

    operations = "\n".join(f"  {name:<22} {operation.summary}" for name, operation in OPERATIONS.items())
    sub = commands.add_parser(
        "batch", help="JSON Lines requests on stdin, replies on stdout", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Answer one JSON request per line of standard input, one reply per line of standard output, in "
                    "order. A request is {\"op\": OP, ...}; a bad line gets an error reply and the batch goes on.",
        epilog=f"operations:\n{operations}\n\nfields: see the README's batch contract")
    sub.add_argument("index", help=index_help)
    sub.add_argument("--ray", default=None, metavar="ADDRESS", help=ray_help)
    sub.set_defaults(func=command_batch)

    sub = commands.add_parser(
        "contamination", help="how much of each benchmark entry occurs in the corpus",
        description="Cut each benchmark entry into 50-character windows, one per word, count how many occur in "
                    "the corpus, and label the entry clean (< 20% found), suspicious or dirty (>= 80%). Needs a "
                    "byte-level index.")
    sub.add_argument("index", help="index directory (byte mode)")
    sub.add_argument("benchmark", help="benchmark as JSON Lines (.jsonl or .json, optionally .gz or .zst)")
    sub.add_argument("--field", nargs="+", default=["text"], metavar="FIELD",
                     help="field(s) holding the entry's text, joined one per line (lists one item per line); "
                          "or one template such as '{question} {answer}' (default text)")
    sub.add_argument("--out", default=None, help="directory for entries.jsonl, summary.json and report.html")
    sub.add_argument("--no-examples", action="store_true", help="do not look up an example document per entry")
    sub.add_argument("--json", action="store_true", help="print the summary as JSON")
    sub.add_argument("--quiet", action="store_true", help="no progress bar")
    sub.set_defaults(func=command_contamination)

    sub = commands.add_parser("demo", help="index the Python standard library and run example queries")
    sub.add_argument("--out", default=None, help="where to keep the demo index (default ~/.cache/infgram/demo-stdlib)")
    sub.add_argument("--rebuild", action="store_true", help="rebuild the demo index even if it exists")
    sub.add_argument("--quiet", action="store_true", help="no progress bars")
    sub.set_defaults(func=command_demo)

    import os

    from .query.budget import DEFAULT_MAX_WORK

    sub = commands.add_parser("serve", help="an HTTP API, a web page and metrics over one or more indexes",
                              description="Serve indexes over HTTP: POST /v1/{op} for every batch operation, the web "
                                          "page at /, the API's description at /docs. Needs pip install 'infgram[serve]'.")
    sub.add_argument("index", nargs="+", help="index directory (a,b for several as one), or NAME=DIR; the first is the default")
    sub.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only)")
    sub.add_argument("--port", type=int, default=8000)
    sub.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes (default: one per core)")
    sub.add_argument("--threads", type=int, default=None, help="query threads per worker and pool (default: cores)")
    sub.add_argument("--queue", type=int, default=64, help="requests that may wait for a thread; beyond, 503 (default 64)")
    sub.add_argument("--max-work", type=int, default=DEFAULT_MAX_WORK,
                     help=f"work budget ceiling of every request; no request can raise it (default {DEFAULT_MAX_WORK:,})")
    sub.add_argument("--max-body-bytes", type=int, default=4 * 1024 * 1024, help="largest request body (default 4 MiB)")
    sub.add_argument("--api-key-file", default=None, help="file of API keys, one a line: requests need 'Authorization: Bearer KEY'")
    sub.add_argument("--rate-limit", type=float, default=None, help="requests a second per client address (or key); beyond, 429")
    sub.add_argument("--cors", action="append", default=[], metavar="ORIGIN", help="allow this origin (CORS is off by default)")
    sub.add_argument("--cache", type=int, default=0, help="keep the last N replies in an LRU cache per worker (default 0)")
    sub.add_argument("--no-access-log", action="store_true", help="do not log every request")
    sub.set_defaults(func=command_serve)
    return parser


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """Warnings as one line each, like errors: ``infgram: warning: ...``."""
    print(f"infgram: warning: {safe(str(message), keep_newlines=False)}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    import warnings

    warnings.showwarning = _show_warning
    args = _parser().parse_args(argv)
    if getattr(args, "next", None) is not None and getattr(args, "next_id", None) is not None:
        print("infgram: error: give --next or --next-id, not both", file=sys.stderr)
        return 2
    try:
        args.func(args)
    except InfgramError as error:
        print(f"infgram: error: {safe(str(error), keep_newlines=False)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("infgram: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
