"""Jobs of the experiment drivers in worker processes: one torch thread each, one overall progress bar.

The drivers (:mod:`mink_toolkit.experiments`) train many small networks;
on a few cores, one process per core with one thread each gives more
throughput than one process with several threads. Worker processes are
*spawned* (not forked), so they start without the parent's threads and
locks; each receives the driver's context (configuration and data) once,
in :func:`init_worker`, rather than with every job.

:class:`JobRunner` runs a list of jobs in this process (one worker) or in a
pool, and keeps one tqdm bar in *epochs* of all trainings: a worker adds
every epoch it trains to an integer shared with the main process
(:class:`SharedEpochCount`), which moves the bar, so the bar advances every
epoch rather than once a training. Results do not depend on the number of
workers: every job seeds itself.
"""

from __future__ import annotations

from typing import Callable

from ._runtime import compile_cache_dir, keep_freed_memory

__all__ = ["init_worker", "worker_context", "spawn_pool", "SharedEpochCount", "JobRunner"]

#: The context of this process's jobs (set by :func:`init_worker`).
_CONTEXT: dict = {}


def init_worker(context: dict | None = None, epochs_done=None, keep_freed: bool = False) -> None:
    """Set up a process that runs jobs: one torch thread, the jobs' context, optionally the allocator.

    The initialiser of :func:`spawn_pool`'s workers, and called by
    :class:`JobRunner` in the main process too (jobs run there when there is
    one worker).

    Parameters
    ----------
    context : dict, optional
        What every job reads (:func:`worker_context`): configuration, data.
    epochs_done : multiprocessing.Value, optional
        The shared epoch count of the overall progress bar (``worker_context()["epochs_done"]``).
    keep_freed : bool
        Apply :func:`~mink_toolkit._runtime.keep_freed_memory` (the worker is
        the driver's own: reuse freed tensors rather than page-faulting them in
        anew).
    """
    import torch

    torch.set_num_threads(1)  # one process per core: more throughput than one process with two threads
    if keep_freed:
        keep_freed_memory()
    _CONTEXT.clear()
    _CONTEXT.update(context or {})
    _CONTEXT["epochs_done"] = epochs_done


def worker_context() -> dict:
    """The context :func:`init_worker` set in this process."""
    return _CONTEXT


def _init_pool_worker(context, epochs_done, keep_freed) -> None:
    """The initialiser of :func:`spawn_pool`'s workers: the compiled path's cache folder, then :func:`init_worker`."""
    # A spawned worker starts with the parent's environment, which names no cache folder unless the
    # parent compiled something before the spawn (or the user set one). Set it first thing: once
    # inductor has looked for its folder it writes its own default (under /tmp) into the variable,
    # which compile_cache_dir would then keep as the user's choice. So every worker shares, and
    # reuses, the toolkit's one cache.
    compile_cache_dir()
    init_worker(context, epochs_done, keep_freed)


def spawn_pool(workers: int, *, context: dict | None = None, epochs_done=None, keep_freed: bool = False):
    """A :class:`~concurrent.futures.ProcessPoolExecutor` of ``workers`` spawned processes set up by :func:`init_worker`.

    Each worker also points TorchInductor at the toolkit's cache folder
    (:func:`~mink_toolkit._runtime.compile_cache_dir`), so that the
    compiled path (``compile=True``) is compiled once per machine, not once
    per worker and run.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"), initializer=_init_pool_worker,
                               initargs=(context, epochs_done, keep_freed))


class SharedEpochCount:
    """What a worker hands a trainer as its progress bar: each epoch is added to an integer shared
    with the main process, which shows it, so the overall bar moves every epoch rather than once a
    training (a training of 10 epochs takes several seconds)."""

    def __init__(self, shared):
        self.shared, self.n = shared, 0

    def update(self, n: int = 1) -> None:
        self.n += n
        with self.shared.get_lock():
            self.shared.value += n

    def set_postfix(self, *args, **kwargs) -> None:  # a trainer's losses: only the main process's bar shows text
        pass

    def close(self) -> None:  # the main process owns the bar
        pass


class JobRunner:
    """Runs lists of jobs in-process (``workers=1``) or in a process pool; one overall progress bar.

    Parameters
    ----------
    run_job : callable
        ``run_job(job, bar=None) -> result``, a module-level function (it is
        pickled by name for the workers). In this process it gets the tqdm
        bar; in a worker ``bar`` is None and the job may count its epochs in
        ``SharedEpochCount(worker_context()["epochs_done"])``, reporting them
        as ``result["epochs_counted"]``.
    context : dict
        Handed to every process once (:func:`init_worker`).
    workers : int
    total : int
        Length of the bar (epochs planned over all jobs).
    desc : str
        Label of the bar.
    progress : bool
    keep_freed : bool
        Let the pool's workers keep freed memory
        (:func:`~mink_toolkit._runtime.keep_freed_memory`), as a driver's own
        workers should; never applied to this process.
    """

    def __init__(self, run_job: Callable, context: dict, *, workers: int, total: int, desc: str, progress: bool,
                 keep_freed: bool = False):
        from tqdm.auto import tqdm

        self.run_job = run_job
        self.pool = None
        init_worker(context)
        self.epochs_done, self.epochs_shown, self.epochs_skipped = None, 0, 0
        if workers > 1:
            import multiprocessing as mp

            self.epochs_done = mp.get_context("spawn").Value("q", 0)  # epochs trained in the workers, for the bar
            self.pool = spawn_pool(workers, context=context, epochs_done=self.epochs_done, keep_freed=keep_freed)
        self.bar = tqdm(total=total, desc=desc, disable=not progress, leave=True)

    def run(self, jobs: list, planned_epochs: Callable[[dict], int]) -> dict:
        """Run ``jobs`` (dicts with an ``"id"``); results by id.

        ``planned_epochs(job)`` is what the bar expects of a job: when a job
        finishes in a worker having counted fewer (it stopped early), the
        difference still moves the bar.
        """
        results = {}
        if self.pool is None:
            for job in jobs:
                results[job["id"]] = self.run_job(job, self.bar)
        else:
            from concurrent.futures import FIRST_COMPLETED, wait

            futures = {self.pool.submit(self.run_job, job): job for job in jobs}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in done:
                    result = future.result()
                    job = futures[future]
                    results[job["id"]] = result
                    self.epochs_skipped += planned_epochs(job) - result.get("epochs_counted", 0)
                self._sync_bar()
        return results

    def _sync_bar(self) -> None:
        """Move the bar to the epochs the workers have trained (plus those a finished job skipped)."""
        position = self.epochs_done.value + self.epochs_skipped
        if position > self.epochs_shown:
            self.bar.update(position - self.epochs_shown)
            self.epochs_shown = position

    def close(self) -> None:
        self.bar.close()
        if self.pool is not None:
            self.pool.shutdown()
