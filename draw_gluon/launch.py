"""MXNet's own job launcher, runnable on Python 3.9 and later: ``python -m draw_gluon.launch``.

Takes exactly the arguments of ``python -m mxnet.tools.launch`` (``-n`` workers, ``-s`` servers,
``--launcher local|ssh|mpi|sge|yarn``, ``-H`` host file, then the command) and runs that launcher
unchanged, after one repair. The ``dmlc_tracker`` bundled with MXNet 1.9.1 calls
``threading.Thread.isAlive()``, which Python 3.9 removed: ``mxnet.tools.launch`` then starts the
scheduler, dies with an ``AttributeError`` before it starts any worker or server, and leaves the
scheduler waiting for them forever; that is the hang seen with ``--launcher local``. The repair
gives ``Thread`` that old name for its own ``is_alive``.
"""
import runpy
import sys
import threading


def main(argv=None):
    if not hasattr(threading.Thread, "isAlive"):
        threading.Thread.isAlive = threading.Thread.is_alive
    sys.argv = ["python -m draw_gluon.launch"] + list(sys.argv[1:] if argv is None else argv)
    runpy.run_module("mxnet.tools.launch", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
