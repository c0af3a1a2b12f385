"""Dask tasks computed on a chosen scheduler, each result handed over as it arrives.

The one place where the curves engine meets dask: a local scheduler
(threads, processes, synchronous) or a ``dask.distributed`` cluster
(Rocklin 2015, "Dask: parallel computation with blocked algorithms and task
scheduling", Proc. SciPy), with a progress bar and results delivered in
completion order; nothing here is a home-made pool.
"""

from __future__ import annotations

from typing import Callable, Sequence

from .._validation import check_integer, check_positive

__all__ = ["CONNECT_TIMEOUT_S", "LOCAL_SCHEDULERS", "compute_streaming"]

#: Local dask schedulers; any other string is a ``dask.distributed`` address.
LOCAL_SCHEDULERS = ("threads", "processes", "synchronous")
#: Seconds to wait for a ``dask.distributed`` scheduler before giving up.
CONNECT_TIMEOUT_S = 20


def _tqdm(total: int, desc: str, enabled: bool, unit: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled)


def _is_client(obj) -> bool:
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - distributed is a dependency
        return False
    return isinstance(obj, Client)


def _check_scheduler(scheduler, num_workers):
    if num_workers is not None:
        num_workers = check_integer(num_workers, "num_workers", minimum=1)
    if isinstance(scheduler, str):
        if not scheduler:
            raise ValueError("scheduler must be 'threads', 'processes', 'synchronous' or a scheduler address")
    elif not _is_client(scheduler):
        raise TypeError(f"scheduler must be a string or a distributed.Client; got {type(scheduler).__name__}")
    return num_workers


def compute_streaming(
    tasks: Sequence,
    scheduler="threads",
    num_workers: int | None = None,
    *,
    on_result: Callable[[int, object], None],
    on_failure: Callable[[int, BaseException], None] | None = None,
    progress: bool = False,
    desc: str = "Minkowski curves",
    unit: str = "file",
    retries: int = 0,
    timeout: float | None = None,
) -> None:
    """Compute ``dask.delayed`` tasks, handing each result over as soon as it arrives.

    ``on_result(i, result)`` runs in the calling thread (the place to write
    results out), in completion order, while the workers go on with the
    other tasks.

    Parameters
    ----------
    tasks : sequence of dask.delayed.Delayed
    scheduler : {"threads", "processes", "synchronous"}, str or distributed.Client
        A local dask scheduler, a ``dask.distributed`` scheduler's address
        or a connected ``Client``.
    num_workers : int, optional
        Threads or processes of a local scheduler (default: dask's, the
        number of cores).
    on_result : callable (int, object)
    on_failure : callable (int, BaseException), optional
        On a ``dask.distributed`` cluster: called for a task that failed --
        a worker that died while running it (``KilledWorker``, after the
        scheduler's own retries on other workers) included -- instead of
        raising; the other tasks go on. Without it the first failure
        cancels the rest and is raised.
    progress : bool
        A tqdm progress bar, one step per task.
    retries : int
        ``dask.distributed`` only: re-run a task that raised, this many
        times (for flaky file systems).
    timeout : float, optional
        ``dask.distributed`` only: seconds to wait for all the results; a
        run still unfinished then is cancelled and :class:`TimeoutError`
        raised (default None: no limit). A bound for tests and supervised
        runs, so that a stuck cluster fails instead of hanging.
    """
    import dask

    num_workers = _check_scheduler(scheduler, num_workers)
    retries = check_integer(retries, "retries", minimum=0)
    if timeout is not None:
        timeout = check_positive(timeout, "timeout")
    tasks = list(tasks)
    if not tasks:
        return
    if isinstance(scheduler, str) and scheduler in LOCAL_SCHEDULERS:
        from dask.callbacks import Callback

        index = {task.key: i for i, task in enumerate(tasks)}

        class _Deliver(Callback):
            # dask.local calls _posttask in the scheduling thread after each
            # task: hand over the tasks asked for, and count them.
            def _posttask(self, key, result, dsk, state, worker_id):
                if key in index:
                    on_result(index[key], result)
                    bar.update(1)

        kwargs = {"scheduler": scheduler}
        if num_workers is not None and scheduler != "synchronous":
            kwargs["num_workers"] = num_workers
        with _tqdm(len(tasks), desc, progress, unit) as bar, _Deliver():
            # optimize_graph=False: each task already is one call; nothing to fuse.
            dask.compute(*tasks, optimize_graph=False, **kwargs)
        return

    from distributed import Client, as_completed

    own_client = not isinstance(scheduler, Client)
    client = Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False) if own_client else scheduler
    try:
        futures = client.compute(tasks, retries=retries, optimize_graph=False)
        index = {future.key: i for i, future in enumerate(futures)}
        with _tqdm(len(tasks), desc, progress, unit) as bar:
            try:
                for future in as_completed(futures, timeout=timeout):
                    i = index[future.key]
                    if future.status == "error":
                        exc = future.exception()
                        if on_failure is None:
                            raise exc
                        on_failure(i, exc)
                    else:
                        on_result(i, future.result())
                    future.release()  # the result is handed over: free it on the cluster
                    bar.update(1)
            except BaseException:
                client.cancel(futures)
                raise
    finally:
        if own_client:
            client.close()
