"""The model zoo's two chores (draw_gluon.model_zoo.ship and .score): ship a trained run into the
package, and score what ships.

    python benchmarks/zoo.py ship NAME RUN_DIR     # RUN_DIR's model -> draw_gluon/zoo/NAME/ (+ info.json)
    python benchmarks/zoo.py table [NAME] [--samples K]   # score the shipped models (or NAME) on their test splits

``ship`` copies the run's parameters (its final ones, else its newest checkpoint's) as float32 with
its config, and writes ``info.json``: the dataset, the training command, the images seen and the
test score measured now. ``table`` re-scores every shipped model from the installed files alone and
prints a Markdown table (DRAW: the bound, and with ``--samples K`` > 1 the importance-weighted
estimate; classifier: the error rate), so anyone can check the numbers of the README and docs/experiments/
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from draw_gluon.runtime import cpu_defaults, start_engine  # noqa: E402

cpu_defaults()
start_engine()  # its log line first, not after our last one

from draw_gluon import model_zoo  # noqa: E402


def table(data_dir, samples, names):
    rows = ["| model | dataset | images seen | test score (re-measured) |", "| --- | --- | ---: | --- |"]
    for name in names:
        info = model_zoo.info(name)
        result = model_zoo.score(model_zoo.pretrained(name), info["dataset"], data_dir, samples)
        rows.append(f"| `{name}` | {info['dataset']} | {info['images_seen']:,} | {model_zoo.summary(result)} |")
    return "\n".join(rows)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=("ship", "table"))
    p.add_argument("name", nargs="?", help="the zoo name (e.g. cluttered-mnist); for table, only this model")
    p.add_argument("run_dir", nargs="?", help="for ship: the training run")
    p.add_argument("--samples", type=int, default=1, help="for table: importance samples K for DRAW models")
    p.add_argument("--data_dir", "--data-dir", default=os.environ.get("DRAW_DATA_DIR"), help="as for train_mnist.py")
    args = p.parse_args()
    if args.command == "ship":
        if not (args.name and args.run_dir):
            p.error("ship needs NAME and RUN_DIR")
        info = model_zoo.ship(args.name, args.run_dir, args.data_dir)
        print(f"{args.name}: {info['summary']} after {info['images_seen']:,} images -> {model_zoo.ZOO}/{args.name}")
    else:
        if args.name:
            try:
                model_zoo.info(args.name)  # before the hour of scoring: an unknown name fails now
            except ValueError as err:
                p.error(str(err))
        print(table(args.data_dir, args.samples, [args.name] if args.name else model_zoo.names()))


if __name__ == "__main__":
    main()
