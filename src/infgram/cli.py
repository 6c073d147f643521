"""The ``infgram`` command line: build an index, query it, run batches, run the demo.

Every subcommand prints its answer on stdout (``--json`` for programs) and, on an error,
one line on stderr and exit status 1 (2 for a misused command line).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Sequence

from .errors import InfgramError, QueryError


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


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=None))


def _print_distribution(prompt_count: int, tokens: list[Any], suffix_length: int | None = None) -> None:
    head = f"prompt count {prompt_count:,}"
    if suffix_length is not None:
        head = f"longest suffix that occurs: {suffix_length} tokens; " + head
    print(head)
    for rank, token in enumerate(tokens, start=1):
        name = "<end of document>" if token.id is None else repr(token.text)
        identifier = "-" if token.id is None else str(token.id)
        print(f"{rank:>4}  {identifier:>8}  {name:<24}  {token.count:>12,}  {token.probability:.6f}")


def _open(args: argparse.Namespace):
    from .query.engine import Index

    return Index.open(args.index)


def command_build(args: argparse.Namespace) -> None:
    from .index.build import build

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
    result = _open(args).next_tokens(_query(args.prompt, args.ids), top_k=args.top_k)
    _print_json(result.to_dict()) if args.json else _print_distribution(result.prompt_count, result.tokens)


def command_infgram(args: argparse.Namespace) -> None:
    index = _open(args)
    prompt = _query(args.prompt, args.ids)
    if args.next is None and args.next_id is None:
        result = index.infgram_next_tokens(prompt, top_k=args.top_k)
        if args.json:
            _print_json(result.to_dict())
        else:
            _print_distribution(result.prompt_count, result.tokens, result.suffix_length)
        return
    result = index.infgram_probability(prompt, _next(args))
    if args.json:
        _print_json(result.to_dict())
    else:
        print(f"longest suffix that occurs: {result.suffix_length} tokens; count(suffix) {result.prompt_count:,}  "
              f"count(suffix + next) {result.count:,}  probability {result.probability}")


def command_docs(args: argparse.Namespace) -> None:
    result = _open(args).documents(_query(args.query, args.ids), limit=args.limit, offset=args.offset,
                                   seed=args.seed, context=args.context)
    if args.json:
        _print_json(result.to_dict())
        return
    print(f"{result.count:,} documents contain the query")
    for document in result.documents:
        print(f"--- document {document.index} (match at token {document.start}) {json.dumps(document.metadata, ensure_ascii=False)}")
        print(document.text)


def command_info(args: argparse.Namespace) -> None:
    info = _open(args).info()
    if args.json:
        _print_json(info)
    else:
        for key, value in info.items():
            print(f"{key:>16}  {value:,}" if isinstance(value, int) else f"{key:>16}  {value}")


def command_verify(args: argparse.Namespace) -> None:
    index = _open(args)
    index.verify()
    print(f"{args.index}: every file matches its checksum")


def command_batch(args: argparse.Namespace) -> None:
    from .query.batch import run_batch

    index = _open(args)
    output = sys.stdout
    for reply in run_batch(index, sys.stdin):
        output.write(reply)
        output.write("\n")
    output.flush()


def command_demo(args: argparse.Namespace) -> None:
    from .demo import run_demo

    run_demo(args.out, rebuild=args.rebuild, progress=not args.quiet)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="infgram", description="Exact n-gram and ∞-gram search over any corpus.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_index(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("index", help="index directory")
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
    sub.add_argument("--memory", default=None, help="memory budget for sorting, e.g. 8G (default: half of available)")
    sub.add_argument("--shard-tokens", type=int, default=None, help="tokens per shard (overrides --memory)")
    sub.add_argument("--overwrite", action="store_true", help="replace an index built from other inputs")
    sub.add_argument("--kind", choices=["sa", "fm"], default="sa",
                     help="sa: suffix array, every query (default); fm: compressed FM-index over bytes, "
                          "~0.34 bytes per byte, count and documents only")
    sub.add_argument("--sample-rate", type=int, default=None,
                     help="FM-index: sample one text position in N (default 128); smaller locates faster, costs more space")
    sub.add_argument("--quiet", action="store_true", help="no progress bars")
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
        sub.add_argument("--top-k", type=int, default=10, help="entries of the distribution to show")
        sub.set_defaults(func=func)

    sub = with_index("next", "the exact next-token distribution after a prompt")
    sub.add_argument("prompt")
    sub.add_argument("--top-k", type=int, default=10, help="entries to show (default 10)")
    sub.set_defaults(func=command_next)

    sub = with_index("docs", "documents that contain a sequence")
    sub.add_argument("query")
    sub.add_argument("--limit", type=int, default=5)
    sub.add_argument("--offset", type=int, default=0)
    sub.add_argument("--seed", type=int, default=None, help="random but reproducible order")
    sub.add_argument("--context", type=int, default=None, help="show this many tokens around the match")
    sub.set_defaults(func=command_docs)

    sub = commands.add_parser("info", help="what an index holds", description="What an index holds.")
    sub.add_argument("index")
    sub.add_argument("--json", action="store_true")
    sub.set_defaults(func=command_info)

    sub = commands.add_parser("verify", help="check every file against its checksum")
    sub.add_argument("index")
    sub.set_defaults(func=command_verify)

    sub = commands.add_parser("batch", help="JSON Lines requests on stdin, replies on stdout")
    sub.add_argument("index")
    sub.set_defaults(func=command_batch)

    sub = commands.add_parser("demo", help="index the Python standard library and run example queries")
    sub.add_argument("--out", default=None, help="where to keep the demo index (default ~/.cache/infgram/demo-stdlib)")
    sub.add_argument("--rebuild", action="store_true", help="rebuild the demo index even if it exists")
    sub.add_argument("--quiet", action="store_true", help="no progress bars")
    sub.set_defaults(func=command_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "next", None) is not None and getattr(args, "next_id", None) is not None:
        print("infgram: error: give --next or --next-id, not both", file=sys.stderr)
        return 2
    try:
        args.func(args)
    except InfgramError as error:
        print(f"infgram: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("infgram: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
