"""A batch's items run on a Dask distributed cluster (``maskstudio batch --scheduler ADDRESS``).

Each item is one task, submitted to the scheduler at ``ADDRESS`` and run by whichever worker
is free; the results come back in the order they finish and are collected exactly as the
local pool's are (the same progress, the same failure report by name, the same ``.done``
markers, so a resumed batch skips what any machine finished).  What the workers need:

- maskstudio installed (the same version), with the extras the items use (``models`` for
  ``--separator rnnoise``): a task names the function it runs, it does not carry its code;
- the dataset and the output folder on storage every worker sees under the same path (a
  shared file system): the tasks carry paths, not audio.

An item whose worker dies is retried on another worker by Dask (its own
``distributed.scheduler.allowed-failures``), then reported as failed.  Ctrl+C cancels the
tasks not yet finished; the cluster itself is left running, it is not ours.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

from maskstudio.errors import MaskStudioError

__all__ = ["run_on_cluster", "CONNECT_TIMEOUT"]

#: seconds to wait for the scheduler before saying it cannot be reached
CONNECT_TIMEOUT = 20.0


def _client(address: str):
    try:
        from distributed import Client
    except ImportError:
        raise MaskStudioError("--scheduler needs Dask's distributed package: pip install "
                              "'maskstudio[cluster]'") from None
    try:
        return Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MaskStudioError(f"cannot reach the Dask scheduler at '{address}' ({reason}): "
                              f"start one with 'dask scheduler' and check the address") from None


def _failure(exc: BaseException) -> str:
    name = type(exc).__name__
    if name == "KilledWorker":
        return "the workers running it died (out of memory, or killed); see the workers' logs"
    if isinstance(exc, (ImportError, AttributeError)):
        return (f"a worker could not run maskstudio ({exc!r}): install the same maskstudio "
                f"on every worker")
    return f"internal error on a worker: {exc!r}"


def run_on_cluster(address: str, run_one: Callable, work: Sequence, names: Sequence[str],
                   collect: Callable) -> None:
    """Run ``run_one(w)`` for each ``w`` of ``work`` on the cluster, calling
    ``collect(*result)`` as each finishes.

    Parameters
    ----------
    address : str
        The scheduler's address (``tcp://host:8786``, or ``host:8786``).
    run_one : callable
        A module-level function (the workers import it by name) returning the tuple that
        ``collect`` takes: ``(name, metrics, error)``.
    work : sequence
        Its arguments, one per item.
    names : sequence of str
        The items' names, in the order of ``work`` (to report a task that failed on the
        cluster rather than in ``run_one``).
    collect : callable
        Called in this thread, once per item.

    Raises
    ------
    MaskStudioError
        Dask is not installed, or the scheduler cannot be reached.
    """
    if not work:
        return
    client = _client(address)
    futures: list = []
    try:
        from distributed import as_completed

        run = uuid.uuid4().hex  # Dask takes equal keys for one task: two batches on one
        futures = [client.submit(run_one, w, pure=False,  # cluster must never share results
                                 key=f"maskstudio-{run}-item-{i}-{n}")
                   for i, (w, n) in enumerate(zip(work, names, strict=True))]
        which = {f.key: n for f, n in zip(futures, names, strict=True)}
        for fut in as_completed(futures, loop=client.loop):
            try:
                result = fut.result()
            except Exception as exc:  # the task never ran to its end on the cluster
                collect(which[fut.key], None, _failure(exc))
            else:
                collect(*result)
    except BaseException:
        if futures:
            client.cancel(futures)
        raise
    finally:
        client.close()
