"""Atomic file writes (a reader sees the old file or the complete new one, never a part), and file digests."""
import contextlib
import fcntl
import hashlib
import os
import secrets
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
    temp file is removed and ``path`` is untouched. The file gets the mode any new file gets (0666
    less the umask) and, once renamed, its folder is fsynced too, so the rename survives a crash.
    """

    def __init__(self, path):
        self.path = os.fspath(path)

    def __enter__(self):
        directory, name = os.path.split(os.path.abspath(self.path))
        root, ext = os.path.splitext(name)
        self.tmp = os.path.join(directory, f".{root}.{secrets.token_hex(6)}.tmp{ext}")
        # created with an explicit mode, which the kernel narrows by the umask (mkstemp's is 0600)
        os.close(os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            os.unlink(self.tmp)
            return False
        fsync(self.tmp)
        os.replace(self.tmp, self.path)
        fsync(os.path.dirname(os.path.abspath(self.path)))
        return False


@contextlib.contextmanager
def atomic_dir(path, replace=True):
    """A temp folder next to ``path`` for the block to fill; renamed onto ``path`` on success.

    Every file in it is fsynced first, and the parent folder after the rename. An existing folder
    at ``path`` is replaced only once the new one is complete, and only if it holds output files
    alone (no subfolders, no model config or parameters: never a run or a saved model); with
    ``replace=False`` it is refused (``FileExistsError``). On an exception the temp folder is removed
    and ``path`` is untouched.
    """
    _check_replaceable(path, replace)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".partial-{secrets.token_hex(6)}")
    os.mkdir(tmp, 0o777)  # narrowed by the umask, as any new folder (mkdtemp's is 0700)
    try:
        yield tmp
        for name in os.listdir(tmp):
            if os.path.isfile(os.path.join(tmp, name)):
                fsync(os.path.join(tmp, name))
        fsync(tmp)
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

