"""``infgram add``: index new inputs as new shards of an existing index.

The new inputs are built exactly as ``infgram build`` would build them, with the index's
own tokenizer, kind and shard size options, into ``g<next generation>/`` inside the index; no file
of the existing shards is touched. The new manifest lists the old shards and then the new
ones, so document numbers continue after the last one, and every answer equals that of a
build of the old and new inputs in that order. A killed ``add`` leaves the index as it was;
the same command resumes the build where it stopped (see :mod:`infgram.build.pipeline`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..build.inputs import expand_inputs
from ..build.pipeline import BuildReport, build, build_from_documents, input_fingerprint
from ..build.selection import Selection
from ..errors import BuildError
from ..format import read_manifest
from ..tokenizer import tokenizer_from_manifest
from .generations import (changing, collect_garbage, commit, generation_directory, refuse_read_only,
                          shard_size_options)


@dataclass
class ChangeReport:
    """What a change did: the generation it wrote and its figures (see :mod:`infgram.change`)."""

    action: str
    directory: str
    generation: int
    changed: bool = True
    num_documents: int = 0
    """Documents added, removed, or kept by the change."""
    num_tokens: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    build: BuildReport | None = None

    def summary(self) -> str:
        """One paragraph for the terminal."""
        if not self.changed:
            return f"{self.action}: nothing to do in {self.directory} (generation {self.generation} unchanged)" + \
                (f"; {self.details['note']}" if "note" in self.details else "")
        extra = "".join(f", {key.replace('_', ' ')} {value:,}" if isinstance(value, int) else f", {value}"
                        for key, value in self.details.items() if key != "note")
        return (f"{self.action}: generation {self.generation} of {self.directory}: {self.num_documents:,} documents, "
                f"{self.num_tokens:,} tokens{extra} in {self.seconds:.1f} s")

    def to_json(self) -> dict[str, Any]:
        data = {key: value for key, value in self.__dict__.items() if key != "build"}
        if self.build is not None:
            data["build"] = self.build.to_json()
        return data


def _are_documents(inputs: Any) -> bool:
    """Whether ``inputs`` are documents given in Python (dicts, as :func:`infgram.build_from_documents`
    takes them) rather than files, directories or URLs."""
    return isinstance(inputs, (list, tuple)) and bool(inputs) and all(isinstance(item, dict) for item in inputs)


def add(directory: str | Path, inputs: Any, *, text_field: str | list[str] = "text", on_error: str = "fail",
        include: list[str] | None = None, exclude: list[str] | None = None, again: bool = False,
        progress: bool = True, shard_tokens: int | None = None, memory: str | int | None = None,
        format: str = "auto") -> ChangeReport:
    """Index ``inputs`` (files, directories, URLs, as :func:`infgram.build` takes them, or a
    list of documents as dicts, as :func:`infgram.build_from_documents` takes them) as new
    shards of the index in ``directory``; returns the :class:`ChangeReport` with the build's
    report (every input line accounted for). The same unchanged files as the last ``add``
    are not added twice (a rerun after an add that finished), unless ``again=True``. The new
    shards are sized by ``shard_tokens``, else ``memory``, else as the index's build was asked
    to, else by a default that is the same on every machine (see
    :func:`~.generations.shard_size_options`). On an index built with ``--shard-by``, the new
    documents are grouped the same way, in new shards of their own per value.
    ``format="text"`` reads every file as plain text, as :func:`infgram.build` does.

    >>> import tempfile, pathlib, infgram
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = infgram.build_from_documents(["a rose is a rose"], folder / "index", progress=False)
    >>> _ = (folder / "new.jsonl").write_text('{"text": "a rose was red"}\\n')
    >>> report = add(folder / "index", [folder / "new.jsonl"], progress=False)
    >>> report.generation, report.num_documents
    (1, 1)
    >>> index = infgram.Index.open(folder / "index")
    >>> index.count("rose"), index.document(1).text
    (3, 'a rose was red')
    """
    import time

    start = time.perf_counter()
    directory = Path(directory)
    refuse_read_only(directory, "add")
    # A killed add of the next generation resumes: its directory is kept (the build inside resumes).
    with changing(directory, "add", keep=generation_directory(read_manifest(directory).generation_number + 1)) \
            as (manifest, generation):
        target = generation_directory(generation + 1)
        tokenizer = tokenizer_from_manifest(manifest.tokenizer or {}, directory)
        kind = manifest.index_kind
        sizes = shard_size_options(manifest, memory, shard_tokens)
        sample_rate = (manifest.settings or {}).get("sample_rate")  # an FM-index's: the new shards sample as the old
        if manifest.shard_by is not None:  # new shards of their own per value, tagged as the old ones
            sizes = {**sizes, "shard_by": manifest.shard_by}
        if _are_documents(inputs):
            vocabulary = {"token_width": tokenizer.token_width, "vocab_size": tokenizer.vocab_size} \
                if not tokenizer.takes_text else {"tokenizer": tokenizer}
            report = build_from_documents(inputs, directory / target, on_error=on_error, progress=progress, kind=kind,
                                          sample_rate=sample_rate, **sizes, **vocabulary)
        else:
            if not tokenizer.takes_text:
                raise BuildError(f"the index in {directory} was built from token ids, so new text cannot be "
                                 "tokenized for it; add documents as token ids from Python: "
                                 "infgram.add(directory, [{'ids': [...]}, ...])")
            selection = Selection(include, exclude, skip_unknown=on_error == "skip", format=format)
            fingerprint, _ = input_fingerprint(expand_inputs(inputs, exclude=directory, selection=selection))
            last = (manifest.changes or [{}])[-1]
            if not again and fingerprint is not None and last.get("action") == "add" and \
                    last.get("fingerprint") == fingerprint:
                # The same files, unchanged, were the last thing added: a rerun after the add
                # finished (perhaps killed right after), which must not add them twice.
                return ChangeReport("add", str(directory), generation, False, details={
                    "note": f"these inputs, unchanged, were added in generation {last['generation']}; pass "
                            "again=True (--again) to add them once more"})
            report = build(inputs, directory / target, tokenizer=tokenizer, text_field=text_field, on_error=on_error,
                           progress=progress, kind=kind, sample_rate=sample_rate, include=include, exclude=exclude,
                           format=format, **sizes)
        added = read_manifest(directory / target)
        shards = list(manifest.shards) + [entry.rebased(target, 0) for entry in added.shards]
        change = {"action": "add", "num_documents": added.num_documents, "num_tokens": added.num_tokens,
                  "num_shards": len(added.shards), "inputs": [str(path) for path in report.files] or "python",
                  "fingerprint": added.build_options.get("inputs")}
        commit(directory, manifest, shards, change)
        # The sub-build's own manifest and report are not part of the index: only its shards are.
        collect_garbage(directory, read_manifest(directory))
    return ChangeReport("add", str(directory), generation + 1, True, added.num_documents, added.num_tokens,
                        {"new_shards": len(added.shards)}, time.perf_counter() - start, report)
