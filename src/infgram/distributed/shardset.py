"""Querying shards held by Ray actors: the same partials and reducers, on other machines.

A local :class:`~infgram.query.shardset.ShardSet` runs ``partial(shard, *arguments)`` on
shards it memory-maps itself. :class:`RayShardSet` keeps the same interface, but each shard
lives in a :class:`ShardHost` actor (one per shard, or per group of consecutive shards) that
opened it from the shared filesystem; the coordinator (the process that called
:func:`open_index`) sends the partial and its arguments to the hosts and hands what comes
back to the very reducers a local index uses. Nothing else changes: :class:`~infgram.Index`
runs over a RayShardSet, so counts, ∞-gram, documents (global numbers, seeded pages),
search, attribution, co-occurrence and the work budget give the same answers.

Traffic is batched: ``map`` sends one request per host (all of its shards answer it), and
``map_parallel`` (``count_batch``) groups its calls by host and puts a buffer shared by
several calls (the batch's token bytes) in the object store once. A host answers a group
of calls on its threads: the compiled searches drop the GIL, as in a local index.

Faults: hosts are restarted when their process dies (``max_restarts``) and a request in
flight is sent again to the restarted host (``max_task_retries``). Partials only read, so
running one twice gives the same answer: a killed host costs time, never a wrong or lost
answer.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import InfgramError
from ..format import Manifest, read_manifest
from ..query.index import Index, IndexLocation
from ..query.shardset import ShardSet, executor
from ..shards import open_shard
from ..shards.removals import Removals
from .cluster import connect, ray_errors_named

SHARED_ARGUMENT_BYTES = 64 << 10
"""An argument at least this large that several calls share is put in the object store once."""


@dataclass(frozen=True)
class RemoteShard:
    """What the coordinator knows of a shard held by a host: its size, its locate cost and
    where it lives (host number, position among the host's shards)."""

    name: str
    num_documents: int
    num_tokens: int
    locate_cost: int
    host: int
    position: int
    removals: Removals = Removals()
    """The shard's removed documents and their token count (the rows stay with the host)."""


class ShardHost:
    """A Ray actor holding some shards of index directories on the shared filesystem; it
    runs partials on them. ``places`` lists (directory, shard number in its manifest).

    ``manifests`` are the coordinator's manifests by directory: a host opens the shards of
    the generation the coordinator opened, even when an ``infgram add``/``remove`` commits a
    newer one in between (the old generation's files stay until the next change collects
    them). Without them (a host started by hand) it reads each manifest itself."""

    def __init__(self, places: Sequence[tuple[str, int]], manifests: dict[str, dict[str, Any]] | None = None):
        manifests = dict(manifests or {})
        self.shards = []
        for directory, number in places:
            if directory not in manifests:
                manifests[directory] = read_manifest(Path(directory))
            manifest = Manifest.from_json(manifests[directory])  # typed again when it came as JSON
            self.shards.append(open_shard(manifest.index_kind, Path(directory), manifest.shards[number],
                                          manifest.token_width, manifest.settings))

    def pid(self) -> int:
        """The process id of the host (tests kill it)."""
        return os.getpid()

    def run(self, position: int, partial: Callable[..., Any], *arguments: Any) -> Any:
        """``partial(shard, *arguments)`` on the host's shard at ``position``."""
        return partial(self.shards[position], *_resolved(arguments))

    def run_all(self, partial: Callable[..., Any], *arguments: Any) -> list[Any]:
        """``partial(shard, *arguments)`` on every shard of the host, in order."""
        arguments = _resolved(arguments)
        return [partial(shard, *arguments) for shard in self.shards]

    def run_calls(self, calls: Sequence[tuple[int, Callable[..., Any], tuple]]) -> list[Any]:
        """(position, partial, arguments) calls, on the host's threads, in order."""
        calls = [(position, partial, _resolved(arguments)) for position, partial, arguments in calls]
        if len(calls) < 2:
            return [partial(self.shards[position], *arguments) for position, partial, arguments in calls]
        return list(executor().map(lambda call: call[1](self.shards[call[0]], *call[2]), calls))


def _resolved(arguments: Sequence[Any]) -> tuple:
    """Arguments with object-store references (shared buffers) replaced by their values."""
    import ray

    return tuple(ray.get(argument) if isinstance(argument, ray.ObjectRef) else argument for argument in arguments)


def _get(ray: Any, references: Any) -> Any:
    """``ray.get``, raising an infgram error a shard raised (DocumentRemovedError...) as itself,
    as a local shard set does, not wrapped in Ray's RayTaskError with the actor's traceback."""
    try:
        return ray.get(references)
    except ray.exceptions.RayTaskError as error:
        cause = getattr(error, "cause", None)
        if isinstance(cause, InfgramError):
            raise cause from None
        raise


class RayShardSet(ShardSet):
    """A :class:`~infgram.query.shardset.ShardSet` whose shards live in :class:`ShardHost`
    actors; global numbering and everything else is inherited."""

    def __init__(self, hosts: Sequence[Any], shards: Sequence[RemoteShard]):
        super().__init__(shards)  # type: ignore[arg-type]  # sizes and costs are all it reads
        self.hosts = list(hosts)

    def map(self, partial: Callable[..., Any], *arguments: Any) -> list[Any]:
        """``partial(shard, *arguments)`` on every shard, in shard order: one request per host."""
        import ray

        if len(self.hosts) > 1:  # sent to every host: large buffers go to the object store once
            arguments = tuple(ray.put(argument) if _large(argument) else argument for argument in arguments)
        answers = _get(ray, [host.run_all.remote(partial, *arguments) for host in self.hosts])
        return [answers[shard.host][shard.position] for shard in self.shards]

    def map_parallel(self, calls: Sequence[tuple[int, Callable[..., Any], tuple]]) -> list[Any]:
        """Run ``(shard number, partial, arguments)`` calls, grouped into one request per host."""
        import ray

        shared = self._shared([arguments for _, _, arguments in calls])
        groups: dict[int, list[int]] = {}
        for order, (number, _, _) in enumerate(calls):
            groups.setdefault(self.shards[number].host, []).append(order)
        requests = {host: self.hosts[host].run_calls.remote(
                        [(self.shards[calls[order][0]].position, calls[order][1], shared[order]) for order in orders])
                    for host, orders in groups.items()}
        answers: list[Any] = [None] * len(calls)
        for host, reply in zip(requests, _get(ray, list(requests.values()))):
            for order, answer in zip(groups[host], reply):
                answers[order] = answer
        return answers

    def call(self, number: int, partial: Callable[..., Any], *arguments: Any) -> Any:
        """``partial(shard, *arguments)`` on shard ``number`` alone."""
        import ray

        shard = self.shards[number]
        return _get(ray, self.hosts[shard.host].run.remote(shard.position, partial, *arguments))

    @staticmethod
    def _shared(argument_lists: Sequence[tuple]) -> list[tuple]:
        """The argument tuples with every large buffer that appears more than once put in the
        object store once (the same object, by identity), so that it travels once per node."""
        import ray

        seen: dict[int, int] = {}
        for arguments in argument_lists:
            for argument in arguments:
                if _large(argument):
                    seen[id(argument)] = seen.get(id(argument), 0) + 1
        stored: dict[int, Any] = {}
        result = []
        for arguments in argument_lists:
            replaced = []
            for argument in arguments:
                if seen.get(id(argument), 0) > 1:
                    if id(argument) not in stored:
                        stored[id(argument)] = ray.put(argument)
                    argument = stored[id(argument)]
                replaced.append(argument)
            result.append(tuple(replaced))
        return result

    def pids(self) -> list[int]:
        """The process id of every host (tests kill them)."""
        import ray

        return ray.get([host.pid.remote() for host in self.hosts])

    def shutdown(self) -> None:
        """Stop the hosts (they also stop when the process that started them ends)."""
        import ray

        for host in self.hosts:
            ray.kill(host, no_restart=True)
        self.hosts = []


def _large(argument: Any) -> bool:
    """Whether an argument is a buffer worth putting in the object store once."""
    if isinstance(argument, np.ndarray):
        return argument.nbytes >= SHARED_ARGUMENT_BYTES
    return isinstance(argument, bytes) and len(argument) >= SHARED_ARGUMENT_BYTES


@functools.lru_cache(maxsize=None)
def _host_class(ray: Any) -> Any:
    return ray.remote(ShardHost)


def open_index(location: IndexLocation, address: str | None = "auto", *, shards_per_host: int = 1,
               max_restarts: int = -1, max_task_retries: int = -1, max_concurrency: int = 8) -> Index:
    """Open an index directory (or several as one) on a Ray cluster: an :class:`~infgram.Index`
    whose shards are held by :class:`ShardHost` actors spread over the cluster's nodes,
    ``shards_per_host`` consecutive shards per actor. Every node must see the directories at
    the same path. Hosts are restarted up to ``max_restarts`` times and requests retried up to
    ``max_task_retries`` times (-1: without end)."""
    ray = connect(address)
    local = Index.open(location)  # checks the directories exactly as a local open does
    places = [(str(directory), number) for directory, manifest in zip(local.directories, local.manifests)
              for number in range(len(manifest.shards))]
    groups = [places[first : first + max(1, shards_per_host)] for first in range(0, len(places), max(1, shards_per_host))]
    options = {"max_restarts": max_restarts, "max_task_retries": max_task_retries, "max_concurrency": max_concurrency,
               "num_cpus": 0, "scheduling_strategy": "SPREAD"}
    manifests = {str(directory): manifest for directory, manifest in zip(local.directories, local.manifests)}
    hosts = [_host_class(ray).options(**options).remote(group, {directory: manifests[directory]
                                                                for directory in {place[0] for place in group}})
             for group in groups]
    shards = [RemoteShard(shard.name, shard.num_documents, shard.num_tokens, shard.locate_cost,
                          number // max(1, shards_per_host), number % max(1, shards_per_host),
                          Removals(np.array(shard.removals.documents), None, shard.removals.num_tokens))
              for number, shard in enumerate(local.shards)]
    shard_set = RayShardSet(hosts, shards)
    with ray_errors_named(ray, f"the shards of {len(hosts)} host(s) opened"):
        shard_set.pids()  # every host has opened its shards (an error there is raised here)
    return Index(local.directories, local.manifests, local.tokenizer, shard_set)
