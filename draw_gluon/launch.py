"""MXNet's own job launcher, runnable on Python 3.9 and later: ``python -m draw_gluon.launch``.

Takes exactly the arguments of ``python -m mxnet.tools.launch`` (``-n`` workers, ``-s`` servers,
``--launcher local|ssh|mpi|sge|yarn``, ``-H`` host file, then the command) and runs that launcher
unchanged, after one repair. The ``dmlc_tracker`` bundled with MXNet 1.9.1 calls
``threading.Thread.isAlive()``, which Python 3.9 removed: ``mxnet.tools.launch`` then starts the
scheduler, dies with an ``AttributeError`` before it starts any worker or server, and leaves the
scheduler waiting for them forever; that is the hang seen with ``--launcher local``. The repair
gives ``Thread`` that old name for its own ``is_alive``.

A second repair keeps the command whole. ``mxnet.tools.launch``, then ``dmlc_tracker``, parse the
whole command line with ``parse_known_args``, so the command's own flags that share a name with
theirs were taken from it (``train_mnist.py -s 8`` asked for 8 servers and trained with the default
number of glimpses; ``--env X`` vanished), and the command is joined with spaces for a shell, so an
argument with a space was split. Here the launcher's options end where the command begins, and the
command reaches them as one shell-quoted word, which neither parser looks into.
"""
import runpy
import shlex
import sys
import threading

# mxnet.tools.launch's options, and whether each takes a value.
OPTIONS = {"-n": True, "--num-workers": True, "-s": True, "--num-servers": True, "-H": True,
           "--hostfile": True, "--sync-dst-dir": True, "--launcher": True, "--env-server": True,
           "--env-worker": True, "--env": True, "--p3": False, "-h": False, "--help": False}


def split_command(argv):
    """``argv`` as ``(launcher options, command)``: the command starts at the first word that is
    neither one of :data:`OPTIONS` nor its value (or after a ``--``)."""
    i = 0
    while i < len(argv) and argv[i] != "--":
        word = argv[i]
        name = word.split("=", 1)[0] if word.startswith("--") else word[:2]
        if name not in OPTIONS:
            return argv[:i], argv[i:]
        attached = "=" in word if word.startswith("--") else len(word) > 2
        i += 2 if OPTIONS[name] and not attached else 1
    return argv[:i], argv[i + 1:]


def main(argv=None):
    if not hasattr(threading.Thread, "isAlive"):
        threading.Thread.isAlive = threading.Thread.is_alive
    options, command = split_command(list(sys.argv[1:] if argv is None else argv))
    sys.argv = ["python -m draw_gluon.launch"] + options + ([shlex.join(command)] if command else [])
    runpy.run_module("mxnet.tools.launch", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
