"""Atomic file writes: a reader sees the old file or the complete new one, never a part."""
import os
import tempfile


def atomic_write(path, data):
    """Write ``data`` (bytes) to ``path`` through a temp file, fsync and rename."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


class atomic_path:
    """Context manager giving a temp path next to ``path``; renamed onto ``path`` on success.

    For writers that insist on a file name (``save_parameters``, ``imageio``): on an exception the
    temp file is removed and ``path`` is untouched.
    """

    def __init__(self, path):
        self.path = os.fspath(path)

    def __enter__(self):
        directory, name = os.path.split(os.path.abspath(self.path))
        root, ext = os.path.splitext(name)
        fd, self.tmp = tempfile.mkstemp(prefix=f".{root}.", suffix=f".tmp{ext}", dir=directory)
        os.close(fd)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            os.unlink(self.tmp)
            return False
        with open(self.tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(self.tmp, 0o666 & ~_umask())  # mkstemp's 0600 would make the result private
        os.replace(self.tmp, self.path)
        return False


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
