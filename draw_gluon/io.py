"""Atomic file writes (a reader sees the old file or the complete new one, never a part), and file digests."""
import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile


def atomic_write(path, data):
    """Write ``data`` (bytes) to ``path`` through a temp file, fsync and rename."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def file_digest(path, algorithm):
    """Hex digest of the file at ``path`` by ``algorithm`` (a :mod:`hashlib` name), read in 1 MiB blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


@contextlib.contextmanager
def atomic_dir(path, replace=True):
    """A temp folder next to ``path`` for the block to fill; renamed onto ``path`` on success.

    Every file in it is fsynced first. An existing folder at ``path`` is replaced only once the new
    one is complete, and only if it holds output files alone (no subfolders, no model config or
    parameters: never a run or a saved model); with ``replace=False`` it is refused
    (``FileExistsError``). On an exception the temp folder is removed and ``path`` is untouched.
    """
    _check_replaceable(path, replace)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".partial-", dir=parent)
    try:
        yield tmp
        for name in os.listdir(tmp):
            if os.path.isfile(os.path.join(tmp, name)):
                fsync(os.path.join(tmp, name))
        fsync(tmp)
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp's 0700 would make the result private
        _check_replaceable(path, replace)
        _replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync(parent)


def write_folder(path, files):
    """Write ``files`` ({name: bytes}) as the folder ``path``, atomically (see :func:`atomic_dir`);
    returns the paths written."""
    with atomic_dir(path) as tmp:
        for name, data in files.items():
            with open(os.path.join(tmp, name), "wb") as f:  # atomic_dir fsyncs them
                f.write(data)
    return [os.path.join(path, name) for name in files]


KEEPERS = ("config.json", "model.params", "args.json")


def _check_replaceable(path, replace):
    if not os.path.exists(path):
        return
    if not replace:
        raise FileExistsError(f"{path} exists already")
    names = os.listdir(path) if os.path.isdir(path) else None
    if names is None or any(n in KEEPERS or os.path.isdir(os.path.join(path, n)) for n in names):
        raise FileExistsError(f"{path} exists and is not an output folder (it holds folders or a "
                              "model); pick another output folder")


def _replace_dir(new, path):
    if not os.path.exists(path):
        os.rename(new, path)
        return
    old = tempfile.mkdtemp(prefix=".old-", dir=os.path.dirname(os.path.abspath(path)))
    os.rename(path, os.path.join(old, "previous"))
    os.rename(new, path)
    shutil.rmtree(old)


class InUseError(OSError):
    """Another process holds the lock of a folder."""


@contextlib.contextmanager
def exclusive(directory):
    """Hold an exclusive lock on ``directory`` (its ``.lock`` file) for the block.

    Raises :class:`InUseError` if another process holds it. The operating system drops the lock
    when its holder dies, so a killed process never leaves a stale one.
    """
    fd = os.open(os.path.join(directory, ".lock"), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 20, 0).decode(errors="replace").strip() or "unknown"
            raise InUseError(f"{directory} is in use by another process (pid {owner}); wait for it to "
                             "finish, or stop it first") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def fsync(path):
    """Flush a file or folder to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
