"""Joining a Ray cluster: where ``--ray ADDRESS`` goes, and the one place Ray is imported.

Ray is an optional dependency (``pip install "infgram[ray]"``): nothing in infgram imports
it until a distributed build or query asks for it, so ``import infgram`` stays light.
:func:`require_ray` imports it and, when it is missing, raises one error that names the
install command.

An address is one of:

- ``"local"``: start a Ray cluster on this machine for this process alone (it stops when
  the process ends). It listens on 127.0.0.1 only: on Linux Ray binds to the outward
  interface unless ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` is in its environment, which
  :func:`connect` sets before Ray starts;
- ``"auto"``: join the cluster already running on this machine (``ray start --head`` or a
  worker of one);
- ``"HOST:PORT"`` or ``"ray://HOST:PORT"``: join the cluster at that address.

A process already connected (a test's ``ray.cluster_utils.Cluster``, a notebook that
called ``ray.init``) stays on its cluster whatever the address.
"""

from __future__ import annotations

import contextlib
import logging
import os
import traceback
from pathlib import Path
from typing import Any, Iterator

from ..errors import InfgramError

LOOPBACK_VARIABLE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
"""Set to ``"0"`` in the environment of a local cluster, so that Ray binds to 127.0.0.1."""


def require_ray() -> Any:
    """The ``ray`` module, or an :class:`~infgram.errors.InfgramError` naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise InfgramError('expected the ray package for --ray and infgram.distributed, found it missing; '
                           'install it with: pip install "infgram[ray]"') from None
    return ray


def keep_to_loopback() -> None:
    """Make Ray clusters started by this process (and its children) listen on 127.0.0.1 only."""
    os.environ[LOOPBACK_VARIABLE] = "0"


def connect(address: str | None = "auto") -> Any:
    """Connect this process to a Ray cluster (see the module's docstring for ``address``);
    returns the ``ray`` module. ``None`` means ``"auto"``."""
    address = "auto" if address is None else str(address)
    if address == "local":
        keep_to_loopback()
    ray = require_ray()
    if ray.is_initialized():
        return ray
    options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False,
                               "configure_logging": True}
    try:
        if address == "local":
            ray.init(address="local", include_dashboard=False, **options)
        else:
            ray.init(address=address, **options)
    except ConnectionError as error:
        raise InfgramError(f"expected a running Ray cluster at {address!r}, found none ({error}); start one with "
                           "`ray start --head`, pass its address, or pass --ray local for a cluster of this "
                           "machine alone") from None
    except Exception as error:  # a node that dies while Ray starts fails in many ways, none of them ours
        if isinstance(error, InfgramError) or not raised_by_ray(ray, error):
            raise
        with contextlib.suppress(Exception):  # leave no half-started cluster behind
            ray.shutdown()
        raise InfgramError(f"expected Ray to start or join the cluster at {address!r}, found it failed "
                           f"({type(error).__name__}: {str(error)[:300]}); a node may have died while it started: "
                           "check the cluster (`ray status`), then rerun the same command") from None
    return ray


def raised_by_ray(ray: Any, error: BaseException) -> bool:
    """Whether ``error`` is Ray's: one of its exception types, or raised inside its package."""
    if isinstance(error, ray.exceptions.RayError):
        return True
    package = Path(ray.__file__).parent
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and Path(frames[-1].filename).is_relative_to(package)


@contextlib.contextmanager
def ray_errors_named(ray: Any, what: str) -> Iterator[None]:
    """Turn an error Ray raises inside the block (a node that died, a cluster gone away) into
    an :class:`~infgram.errors.InfgramError` saying ``what`` failed; infgram's own pass."""
    try:
        yield
    except Exception as error:
        cause = getattr(error, "cause", None)
        if isinstance(cause, InfgramError) and not isinstance(error, InfgramError):
            raise cause from None  # a task's own error, as it was raised
        if isinstance(error, InfgramError) or not raised_by_ray(ray, error):
            raise
        raise InfgramError(f"expected {what} on the Ray cluster, found Ray failed ({type(error).__name__}: "
                           f"{str(error)[:300]}); a node may have died: check the cluster (`ray status`), then "
                           "rerun the same command to resume") from None


def cluster_cpus(ray: Any) -> int:
    """The CPUs of the whole cluster (at least 1)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def node_addresses(ray: Any) -> list[str]:
    """The IP address of every live node of the cluster."""
    return [node["NodeManagerAddress"] for node in ray.nodes() if node.get("Alive")]
