"""The model zoo's two chores: ship a trained run into the package, and score what ships.

    python benchmarks/zoo.py ship NAME RUN_DIR     # RUN_DIR's model -> draw_gluon/zoo/NAME/ (+ info.json)
    python benchmarks/zoo.py table [NAME] [--samples K]   # score the shipped models (or NAME) on their test splits

``ship`` copies the run's parameters (its final ones, else its newest checkpoint's) as float32 with
its config, and writes ``info.json``: the dataset, the training command, the images seen and the
test score measured now. ``table`` re-scores every shipped model from the installed files alone and
prints a Markdown table (DRAW: the bound, and with ``--samples K`` > 1 the importance-weighted
estimate; classifier: the error rate), so anyone can check the README's numbers.
"""
import argparse
import json
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from draw_gluon.runtime import cpu_defaults  # noqa: E402

cpu_defaults()

from draw_gluon import checkpoint, data, model_zoo  # noqa: E402
from draw_gluon.classifier import Classifier  # noqa: E402
from draw_gluon.evaluation import evaluate_classifier, evaluate_nll  # noqa: E402
from draw_gluon.io import atomic_dir, atomic_write  # noqa: E402
from draw_gluon.recipes import RECIPES  # noqa: E402


def score(model, dataset_name, data_dir, samples=1):
    """The test score of ``model`` on ``dataset_name``'s test split, as a dict."""
    dataset = data.load(dataset_name, data_dir)
    images = dataset.splits["test"]
    model.hybridize(static_alloc=True)
    if isinstance(model, Classifier):
        return evaluate_classifier(model, images, dataset.labels["test"])
    result = evaluate_nll(model, images, samples)
    result.pop("per_image")
    return result


def summary(result):
    if "error" in result:
        return f"test error {100 * result['error']:.2f}% +- {100 * result['error_se']:.2f}%"
    bound, nll = result["bound"], result["nll"]
    text = f"test bound {bound['nats']:.2f} +- {bound['nats_se']:.2f} nats"
    if result["num_samples"] > 1:
        text += f", -log p(x) <= {nll['nats']:.2f} +- {nll['nats_se']:.2f} (K={result['num_samples']})"
    return text


def ship(name, run_dir, data_dir):
    """Copy ``run_dir``'s model into the zoo as ``name`` with its info.json; returns the info."""
    path, state = checkpoint.newest(run_dir)
    if not state:
        sys.exit(f"error: {run_dir} holds no trained state yet; let it train past a checkpoint")
    with open(os.path.join(run_dir, "args.json")) as f:
        flags = json.load(f)
    flags.update(state.get("schedule", {}))  # a resume may have changed them (args.json keeps the first)
    model = checkpoint.load_model(path)
    result = score(model, flags["dataset"], data_dir)
    recipe = flags.get("recipe") or (name if name in RECIPES else None)
    info = {"name": name, "recipe": recipe, "dataset": flags["dataset"], "task": flags.get("task", "generate"),
            "images_seen": state["samples_seen"],
            "flags": {k: v for k, v in flags.items() if k not in ("data_dir", "logdir", "resume")},
            "test": result, "summary": summary(result)}
    target = os.path.join(model_zoo.ZOO, name)
    with atomic_dir(target + ".new", replace=False) as tmp:
        model.save(tmp)  # float32 parameters and the config
        atomic_write(os.path.join(tmp, "info.json"), (json.dumps(info, indent=2) + "\n").encode())
    if os.path.isdir(target):  # shipping a newer state of the model: swap, then drop the old one
        os.rename(target, target + ".old")
    os.rename(target + ".new", target)
    shutil.rmtree(target + ".old", ignore_errors=True)
    return info


def table(data_dir, samples, names):
    rows = ["| model | dataset | images seen | test score (re-measured) |", "| --- | --- | ---: | --- |"]
    for name in names:
        info = model_zoo.info(name)
        result = score(model_zoo.pretrained(name), info["dataset"], data_dir, samples)
        rows.append(f"| `{name}` | {info['dataset']} | {info['images_seen']:,} | {summary(result)} |")
    return "\n".join(rows)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=("ship", "table"))
    p.add_argument("name", nargs="?", help="the zoo name (e.g. cluttered-mnist); for table, only this model")
    p.add_argument("run_dir", nargs="?", help="for ship: the training run")
    p.add_argument("--samples", type=int, default=1, help="for table: importance samples K for DRAW models")
    p.add_argument("--data-dir", default=os.environ.get("DRAW_DATA_DIR"), help="as for train_mnist.py")
    args = p.parse_args()
    if args.command == "ship":
        if not (args.name and args.run_dir):
            p.error("ship needs NAME and RUN_DIR")
        info = ship(args.name, args.run_dir, args.data_dir)
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
