"""Tests of mink_toolkit.parallel: worker set-up, the shared epoch count and the overall progress bar."""

from __future__ import annotations

from mink_toolkit import parallel


def test_worker_epochs_reach_the_overall_progress_bar():
    # With worker processes, each epoch a worker trains is added to a shared integer and the main
    # process moves the bar to it, so the bar advances every epoch, not once per finished training.
    import multiprocessing as mp

    shared = mp.get_context("spawn").Value("q", 0)
    counter = parallel.SharedEpochCount(shared)
    counter.update()
    counter.update(2)
    counter.close()
    assert (counter.n, shared.value) == (3, 3)

    class Bar:
        n = 0

        def update(self, k):
            self.n += k

    runner = object.__new__(parallel.JobRunner)
    runner.bar, runner.epochs_done, runner.epochs_shown, runner.epochs_skipped = Bar(), shared, 0, 0
    runner._sync_bar()
    assert runner.bar.n == 3
    runner.epochs_skipped = 2  # a finished job that stopped early: its planned epochs still count
    shared.value += 1
    runner._sync_bar()
    runner._sync_bar()  # idempotent
    assert runner.bar.n == 6


def _square(job, bar=None):
    return {"id": job["id"], "value": job["x"] ** 2, "epochs_counted": 0}


def _inductor_cache(job, bar=None):
    import os

    return {"id": job["id"], "folder": os.environ.get("TORCHINDUCTOR_CACHE_DIR"), "epochs_counted": 0}


def test_job_runner_gives_the_same_results_in_process_and_in_workers(monkeypatch, tmp_path):
    """Also: the spawned workers compile into the toolkit's inductor cache (the parent never set it)."""
    import os

    import torch

    monkeypatch.setenv("MINK_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "")  # restored afterwards; unset for the workers
    del os.environ["TORCHINDUCTOR_CACHE_DIR"]
    jobs = [{"id": f"j{k}", "x": k} for k in range(4)]
    results, folders = {}, {}
    for workers in (1, 2):
        runner = parallel.JobRunner(_square, {"scale": 1}, workers=workers, total=0, desc="test", progress=False)
        try:
            results[workers] = runner.run(jobs, lambda job: 0)
            if workers > 1:
                runner.run_job = _inductor_cache
                folders = runner.run(jobs[:2], lambda job: 0)
        finally:
            runner.close()
    assert results[1] == results[2] and list(results[1]) == ["j0", "j1", "j2", "j3"]
    assert results[1]["j3"]["value"] == 9
    assert parallel.worker_context()["scale"] == 1 and torch.get_num_threads() == 1  # set up in this process too
    assert [r["folder"] for r in folders.values()] == [str(tmp_path / "torchinductor")] * 2
    assert "TORCHINDUCTOR_CACHE_DIR" not in os.environ  # the caller's process is left alone


def test_both_drivers_let_their_workers_keep_freed_memory(monkeypatch):
    """The super-resolution driver's pool is set up like the surrogate driver's: keep_freed=True."""
    import inspect

    from mink_toolkit.experiments import surrogate
    from mink_toolkit.experiments.superres import jobs

    seen = {}

    def fake_spawn_pool(workers, **kwargs):
        seen.update(kwargs)
        return None

    monkeypatch.setattr(parallel, "spawn_pool", fake_spawn_pool)
    runner = parallel.JobRunner(_square, {}, workers=2, total=0, desc="test", progress=False, keep_freed=True)
    runner.pool = None
    runner.close()
    assert seen["keep_freed"] is True
    assert "keep_freed=True" in inspect.getsource(jobs._Runner.__init__)
    assert "spawn_pool(jobs, keep_freed=True)" in inspect.getsource(surrogate)


def test_dask_worker_setting_is_the_one_the_readme_shows():
    from pathlib import Path

    from mink_toolkit._runtime import DASK_WORKER_ENVIRON

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for name, value in DASK_WORKER_ENVIRON.items():
        assert f"{name}: {value}" in readme
