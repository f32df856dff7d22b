"""Starting or joining a Ray cluster for a search, and checking that it can run the trials asked for.

``--ray`` with no address starts a private local Ray instance (stopped when the search ends);
``--ray auto`` joins the cluster that ``ray start`` recorded on this machine; ``--ray HOST:PORT``
joins the cluster whose head listens there. The dashboard is never started.
"""

from __future__ import annotations

import logging
import math
import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from nas._errors import NasError
from nas.distributed._resources import TrialResources

log = logging.getLogger("nas.distributed")

LOCAL = "local"
UNLIMITED = 1_000_000


@dataclass(frozen=True)
class ClusterInfo:
    """What the driver is connected to.

    Attributes:
        address: ``"local"`` for a private instance, else the address given by the user.
        nodes: Alive nodes as ``(node_id, resources)``.
        hosts: The distinct addresses of those nodes (one for a single machine).
        capacity: How many trials with the requested resources fit at once over all nodes.
        started_here: Whether this process started the instance (and stops it on exit).
    """

    address: str
    nodes: tuple[tuple[str, dict[str, float]], ...]
    hosts: tuple[str, ...]
    capacity: int
    started_here: bool


def parse_address(address: str | None) -> str:
    """``None``/``""`` -> ``"local"``; ``"auto"``; ``HOST:PORT`` checked. Raises NasError otherwise."""
    if address is None or address in ("", LOCAL):
        return LOCAL
    if address == "auto":
        return address
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise NasError(f"--ray {address}: expected nothing (local instance), 'auto' or HOST:PORT, e.g. 127.0.0.1:6379")
    return address


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail in seconds with a clear message instead of Ray's long connection retries."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise NasError(f"--ray {address}: no Ray head node answers there ({exc}); start one with "
                       f"'ray start --head --port={port}'") from None


def trials_fitting(node_resources: Mapping[str, float], need: TrialResources) -> int:
    """How many trials asking ``need`` fit at once on one node with ``node_resources`` (its totals).

    A trial asking for nothing at all is limited only by ``--workers`` (reported as a large number).
    """
    asks = {name: amount for name, amount in {"CPU": need.num_cpus, "GPU": need.num_gpus, **need.resources}.items()
            if amount > 0}
    if not asks:
        return UNLIMITED
    return min(math.floor(node_resources.get(name, 0.0) / amount + 1e-9) for name, amount in asks.items())


def describe_cluster(need: TrialResources, address: str, started_here: bool) -> ClusterInfo:
    """Alive nodes and the trial capacity; NasError when no node can run a trial at all."""
    import ray

    alive = [n for n in ray.nodes() if n.get("Alive")]
    nodes = tuple((n["NodeID"], dict(n["Resources"])) for n in alive)
    hosts = tuple(sorted({str(n.get("NodeManagerAddress")) for n in alive}))
    capacity = min(UNLIMITED, sum(trials_fitting(res, need) for _, res in nodes))
    if capacity == 0:
        offered = "; ".join(
            ", ".join(f"{k}={v:g}" for k, v in sorted(res.items())
                      if not k.startswith("node:") and k not in ("memory", "object_store_memory"))
            for _, res in nodes)
        raise NasError(f"ray: no node of the cluster ({address}) can run a trial asking "
                       f"num_cpus={need.num_cpus:g}, num_gpus={need.num_gpus:g}, resources={dict(need.resources)}; "
                       f"nodes offer: {offered or 'nothing'}")
    return ClusterInfo(address=address, nodes=nodes, hosts=hosts, capacity=capacity, started_here=started_here)


@contextmanager
def ray_cluster(address: str | None, need: TrialResources | None = None, *, num_cpus: int | None = None,
                log_to_driver: bool = False) -> Iterator[ClusterInfo]:
    """Start or join Ray for the duration of a ``with`` block.

    Args:
        address: ``None`` for a private local instance, ``"auto"``, or ``HOST:PORT``.
        need: Per-trial resources, checked against the nodes (default 1 CPU).
        num_cpus: CPUs of the local instance (default: all of this machine); ignored when joining.
        log_to_driver: Echo worker stdout/stderr here (off: it would break the progress bar; worker
            logs stay in the Ray session folder, and evaluation errors are recorded by the dispatcher).

    Yields:
        The cluster description; the instance is shut down on exit if this call started it.
        An already initialised Ray (a Python caller's own) is used as is and left running.
    """
    import ray

    address = parse_address(address)
    need = need or TrialResources()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if ray.is_initialized():
        yield describe_cluster(need, address, started_here=False)
        return
    if address == LOCAL:
        cpus = num_cpus if num_cpus is not None else (os.cpu_count() or 1)
        log.info("starting a local Ray instance with %d CPUs", cpus)
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=log_to_driver,
                 _node_ip_address="127.0.0.1", configure_logging=False)
    else:
        if address != "auto":
            check_reachable(address)
        log.info("joining the Ray cluster at %s", address)
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=log_to_driver,
                     configure_logging=False)
        except ConnectionError as exc:
            raise NasError(f"--ray {address}: cannot join the Ray cluster: {exc}") from None
    try:
        info = describe_cluster(need, address, started_here=True)
        log.info("Ray: %d node(s), room for %d trial(s) at once", len(info.nodes), info.capacity)
        yield info
    finally:
        ray.shutdown()


def node_summary(info: ClusterInfo) -> list[dict[str, Any]]:
    """One JSON-able line per node: id and its non-internal resources (for logs and the run folder)."""
    return [{"node_id": nid, "resources": {k: v for k, v in sorted(res.items()) if not k.startswith("node:")}}
            for nid, res in info.nodes]
