"""benchmarks/recipes.py (docs/learning.md's table) runs: every recipe's setup, including those that
change the initialisation in the child process, trains and is scored (a tiny budget)."""
import os
import subprocess
import sys


from helpers import ROOT, paper_data_dir


def test_the_recipes_table_trains_each_setup_and_prints_its_rows(tmp_path):
    data_dir = paper_data_dir()
    rows = ["normal-init", "window-zero-state"]  # the setups that patch the model: zero window and normal init, zero state
    done = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "recipes.py"), "--data_dir", data_dir,
                           "--budget", "384", "--jobs", "2", "--only", *rows],
                          capture_output=True, text=True, cwd=tmp_path, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr[-2000:]
    table = done.stdout.strip().splitlines()
    assert [line.split(" | ")[0].strip("| ") for line in table[2:]] == rows
    assert all(float(line.split(" | ")[3]) > 0 for line in table[2:])  # each recipe's test bound
