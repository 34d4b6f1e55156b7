"""Atomic writes: complete or absent, durable once they return, and with the modes any new file gets."""
import os
import stat

import pytest

from draw_gluon import io


@pytest.fixture
def umask_027():
    umask = os.umask  # the test replaces os.umask before this fixture's teardown runs
    previous = umask(0o027)
    yield
    umask(previous)


def test_written_files_and_folders_take_the_umask_which_is_never_changed(tmp_path, monkeypatch, umask_027):
    def no_umask_change(mask):  # another thread creating a file meanwhile would get mode 0666
        raise AssertionError("the process umask must not be changed, even for a moment")
    monkeypatch.setattr(os, "umask", no_umask_change)
    io.atomic_write(tmp_path / "a.json", b"{}")
    with io.atomic_path(tmp_path / "b.params") as tmp:
        with open(tmp, "wb") as f:  # a writer that insists on a file name
            f.write(b"x")
    written = io.write_folder(str(tmp_path / "out"), {"c.png": b"png"})
    modes = {name: stat.S_IMODE(os.stat(path).st_mode) for name, path in
             (("a", tmp_path / "a.json"), ("b", tmp_path / "b.params"), ("c", written[0]), ("out", tmp_path / "out"))}
    assert modes == {"a": 0o640, "b": 0o640, "c": 0o640, "out": 0o750}
    assert sorted(os.listdir(tmp_path)) == ["a.json", "b.params", "out"], "no temp file left"


def test_a_write_returns_only_once_its_rename_is_on_disk(tmp_path, monkeypatch):
    events = []
    real_replace, real_fsync = os.replace, io.fsync
    monkeypatch.setattr(os, "replace", lambda src, dst: (events.append(("rename", os.fspath(dst))), real_replace(src, dst)))
    monkeypatch.setattr(io, "fsync", lambda path: (events.append(("fsync", os.path.abspath(path))), real_fsync(path)))
    io.atomic_write(tmp_path / "metrics.json", b"{}")
    renamed = events.index(("rename", str(tmp_path / "metrics.json")))
    assert ("fsync", str(tmp_path)) in events[renamed + 1:], events
    assert events[renamed - 1][0] == "fsync", "the file's data first"


def test_a_failed_write_leaves_the_old_file(tmp_path):
    io.atomic_write(tmp_path / "a.json", b"old")
    with pytest.raises(RuntimeError):
        with io.atomic_path(tmp_path / "a.json") as tmp:
            with open(tmp, "wb") as f:
                f.write(b"half")
            raise RuntimeError("the writer died")
    assert (tmp_path / "a.json").read_bytes() == b"old" and os.listdir(tmp_path) == ["a.json"]
