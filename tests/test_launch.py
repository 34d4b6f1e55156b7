"""MXNet's launcher through draw_gluon.launch: a scheduler, a server and two workers on loopback."""
import json
import os
import signal
import subprocess
import sys

from helpers import HANG
from draw_gluon.launch import split_command

KV_SCRIPT = """
import json, sys
import mxnet as mx
kv = mx.kv.create("dist_sync")
kv.init(3, mx.nd.zeros((2,)))
kv.push(3, mx.nd.ones((2,)) * (kv.rank + 1))
out = mx.nd.zeros((2,))
kv.pull(3, out=out)
# a file per worker: their shared stdout interleaves
with open(f"rank{kv.rank}.txt", "w") as f:
    print("rank", kv.rank, "of", kv.num_workers, "pulled", out.asnumpy().tolist(), file=f)
    print(json.dumps(sys.argv[1:]), file=f)
"""


# The command's own flags, some named like the launcher's, and a word with a space and a quote in it.
ARGS = ["-s", "8", "--task", "classify", "-n", "3", "--env", "it's a b", "--p3"]


def test_the_local_launcher_starts_every_process_and_they_sum_their_pushes(tmp_path):
    script = tmp_path / "kv.py"
    script.write_text(KV_SCRIPT)
    command = [sys.executable, "-m", "draw_gluon.launch", "-n", "2", "-s", "1", "--launcher", "local",
               sys.executable, str(script)] + ARGS
    env = dict(os.environ, OMP_NUM_THREADS="1")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                               cwd=tmp_path, start_new_session=True)
    try:
        out, _ = process.communicate(timeout=HANG)
    finally:  # the scheduler, server and workers too, whatever happened
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert process.returncode == 0, out
    reports = [(tmp_path / f"rank{rank}.txt").read_text().splitlines() for rank in (0, 1)]
    assert [r[0] for r in reports] == ["rank 0 of 2 pulled [3.0, 3.0]", "rank 1 of 2 pulled [3.0, 3.0]"], out
    assert all(json.loads(r[1]) == ARGS for r in reports), "each worker gets the command's arguments unchanged"


def test_the_launchers_options_end_where_the_command_begins():
    assert split_command(["-n", "2", "-s1", "--launcher=local", "python", "t.py", "-s", "8"]) == (
        ["-n", "2", "-s1", "--launcher=local"], ["python", "t.py", "-s", "8"])
    assert split_command(["-n", "2", "--", "-s", "x"]) == (["-n", "2"], ["-s", "x"])
    assert split_command(["--p3", "-H", "hosts", "run"]) == (["--p3", "-H", "hosts"], ["run"])
