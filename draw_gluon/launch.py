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

A third makes a failure end the job (``--launcher local``). When one process of a parameter-server
job dies, the others wait for it forever; ``dmlc_tracker`` only raises in the thread that started it.
Here the first process to exit with an error stops every other process of the job, and the launcher
exits with status 1 and one line saying which process failed.
"""
import collections
import glob
import os
import re
import runpy
import shlex
import signal
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


def descendants(pid):
    """The process ids of every process started, directly or not, by process ``pid`` (Linux)."""
    children = collections.defaultdict(list)
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])  # after "pid (command) state"
        except (OSError, IndexError, ValueError):
            continue  # ended meanwhile
        children[ppid].append(int(stat.split("/")[2]))
    found, todo = [], [pid]
    while todo:
        kids = children[todo.pop()]
        found += kids
        todo += kids
    return found


def _stop_job_on_failure(exec_cmd):
    """dmlc_tracker's ``exec_cmd`` (one process of a local job), ending the whole job if it fails."""
    def run(cmd, num_attempt, role, taskid, pass_env):
        try:
            exec_cmd(cmd, num_attempt, role, taskid, pass_env)
        except RuntimeError as err:  # how dmlc_tracker reports a non-zero exit status
            status = re.search(r"return code=(-?\d+)", str(err))
            print(f"draw_gluon.launch: {role} process {taskid} exited with status "
                  f"{status.group(1) if status else '?'}; stopping the job (its other processes would wait "
                  "for it forever). Continue a training run with --resume RUN_DIR.", file=sys.stderr, flush=True)
            for pid in descendants(os.getpid()):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            os._exit(1)
    return run


def main(argv=None):
    if not hasattr(threading.Thread, "isAlive"):
        threading.Thread.isAlive = threading.Thread.is_alive
    from dmlc_tracker import local
    local.exec_cmd = _stop_job_on_failure(local.exec_cmd)
    options, command = split_command(list(sys.argv[1:] if argv is None else argv))
    sys.argv = ["python -m draw_gluon.launch"] + options + ([shlex.join(command)] if command else [])
    runpy.run_module("mxnet.tools.launch", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
