"""The one atomic writer: files and directories, success, failure and interruption."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from mink_toolkit.io.atomic import atomic_write, remove_path


def test_file_is_written_under_a_temporary_name_then_renamed(tmp_path):
    target = tmp_path / "out.txt"
    with atomic_write(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.txt.tmp-")
        assert not tmp.exists() and not target.exists()
        tmp.write_text("new")
        assert not target.exists()  # nothing visible before the block ends
    assert target.read_text() == "new"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_failure_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_write(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_keyboard_interrupt_is_cleaned_up_too(tmp_path):
    target = tmp_path / "store.zarr"
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(target) as tmp:
            (tmp / "sub").mkdir(parents=True)
            (tmp / "sub" / "chunk").write_bytes(b"x")
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_directory_replaces_a_directory(tmp_path):
    target = tmp_path / "store.zarr"
    target.mkdir()
    (target / "old_chunk").write_text("old")
    with atomic_write(target) as tmp:
        tmp.mkdir()
        (tmp / "new_chunk").write_text("new")
    assert sorted(os.listdir(target)) == ["new_chunk"]
    assert os.listdir(tmp_path) == ["store.zarr"]  # the old copy is gone


def test_overwrite_false_refuses_before_writing(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        with atomic_write(target, overwrite=False):
            raise AssertionError("the block must not run")
    assert target.read_text() == "old"


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="output directory"):
        with atomic_write(tmp_path / "missing" / "out.txt"):
            pass
    with pytest.raises(FileNotFoundError, match="nothing was written"):
        with atomic_write(tmp_path / "out.txt"):
            pass
    assert os.listdir(tmp_path) == []


def test_temporary_names_differ_between_calls(tmp_path):
    with atomic_write(tmp_path / "a") as first, atomic_write(tmp_path / "a") as second:
        assert first != second
        first.write_text("1")
        second.write_text("2")
    assert (tmp_path / "a").read_text() == "1"  # the outer block finishes last, its rename wins
    assert os.listdir(tmp_path) == ["a"]


def test_remove_path_handles_files_directories_and_absence(tmp_path):
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "f").write_text("x")
    remove_path(tmp_path / "d")
    remove_path(tmp_path / "f")
    remove_path(tmp_path / "missing")
    assert os.listdir(tmp_path) == []


def test_killed_writer_never_leaves_a_partial_target(tmp_path):
    """A process killed while writing leaves the old target intact (only its temporary behind)."""
    target = tmp_path / "out.txt"
    target.write_text("old")
    script = textwrap.dedent(f"""
        import time
        from mink_toolkit.io.atomic import atomic_write
        with atomic_write({str(target)!r}) as tmp:
            with open(tmp, "w") as handle:
                handle.write("partial")
                handle.flush()
                print("writing", flush=True)
                time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "writing"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert target.read_text() == "old"
    leftovers = [n for n in os.listdir(tmp_path) if n != "out.txt"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".out.txt.tmp-")
