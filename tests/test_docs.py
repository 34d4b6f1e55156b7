"""The README and docs/ as a user meets them: every Python block runs as written, every relative link
and anchor resolves, the README stays a manual (at most 300 lines, no dated status), and docs/cli.md's
flag table is the one TrainConfig generates (``python tests/test_docs.py`` rewrites it)."""
import glob
import os
import re
import subprocess

import mxnet as mx
import pytest

from helpers import ROOT, make_model, tiny_config

DOCS = ["README.md"] + sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "**", "*.md"),
                                                                            recursive=True))
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.S)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
TABLE = re.compile(r"(<!-- generated from TrainConfig[^\n]*-->\n)(.*?)(<!-- end of generated table -->)", re.S)


def read(doc):
    with open(os.path.join(ROOT, doc), encoding="utf-8") as f:
        return f.read()


def python_blocks():
    return [(doc, k, code) for doc in DOCS
            for k, code in enumerate(code for lang, code in FENCE.findall(read(doc)) if lang == "python")]


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A working folder holding what the blocks read: the exports of a (tiny) model where the commands
    they quote write them."""
    from draw_gluon import export_model
    pytest.importorskip("onnxruntime")
    monkeypatch.chdir(tmp_path)
    model = make_model(tiny_config())
    export_model(model, "results/my_run/export")  # draw-gluon export results/my_run
    export_model(model, "mnist-attention-export", format="onnx")  # draw-gluon export mnist-attention --format onnx
    return tmp_path


def run_block(doc, code):
    namespace = {}
    exec(compile(code, doc, "exec"), namespace)
    return namespace


@pytest.mark.parametrize("doc, index, code", python_blocks(), ids=lambda v: str(v).split("\n")[0][:40])
def test_every_python_block_runs_as_written(workspace, doc, index, code):
    run_block(doc, code)


def block_after(doc, marker):
    return FENCE.search(read(doc).split(marker, 1)[1]).group(2)


def test_the_readme_gluon_example_trains_saves_and_loads(workspace):
    namespace = run_block("README.md", block_after("README.md", "## Use it in your own Gluon project"))
    assert namespace["samples"].shape == (16, 9, 1, 28, 28) and namespace["model"].config.num_steps == 8
    assert (workspace / "results" / "my_model" / "config.json").exists()


def test_the_symbolblock_example_loads_the_export_with_mxnet_alone(workspace):
    namespace = run_block("docs/cli.md", block_after("docs/cli.md", "**Export.**"))
    assert namespace["canvases"].shape == (16, 4, 30) and namespace["windows"].shape == (16, 3, 5)
    assert len(namespace["draw"](mx.nd.zeros((2, 1, 6, 5)), mx.nd.zeros((2, 3, 4)))) == 3


def test_the_onnx_example_draws_without_mxnet(workspace):
    namespace = run_block("README.md", block_after("README.md", "## Leaving MXNet: ONNX"))
    assert namespace["canvases"].shape == (16, 4, 30) and namespace["windows"].shape == (16, 3, 5)


def anchors(doc):
    """GitHub's anchors of the headings of ``doc``: lower case, punctuation dropped, spaces to hyphens."""
    text = FENCE.sub("", read(doc))
    return {re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
            for title in re.findall(r"^#+ (.*)$", text, re.M)}


@pytest.mark.parametrize("doc", DOCS)
def test_every_relative_link_and_anchor_resolves(doc):
    for target in LINK.findall(FENCE.sub("", read(doc))):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        linked = os.path.normpath(os.path.join(os.path.dirname(doc), path)) if path else doc
        assert os.path.exists(os.path.join(ROOT, linked)), f"{doc} links to {target}, which does not exist"
        if anchor:
            assert anchor in anchors(linked), f"{doc} links to {target}: no such heading in {linked}"


@pytest.mark.parametrize("doc", [d for d in DOCS if "rebuild" in read(d) and "--from" in read(d)])
def test_each_ended_runs_report_names_a_commit_that_holds_its_state(doc):
    for name, commit in re.findall(r"long_run\.py rebuild ([\w-]+) --from ([0-9a-f]{7,40})", read(doc)):
        held = subprocess.run(["git", "-C", ROOT, "cat-file", "-e", f"{commit}:runs/{name}/checkpoint/state.json"],
                              capture_output=True)
        shallow = subprocess.run(["git", "-C", ROOT, "rev-parse", "--is-shallow-repository"], capture_output=True,
                                 text=True).stdout.strip()
        if shallow != "false":  # a --depth 1 clone lacks the history, or this is no git checkout
            pytest.skip("needs the repository's history (a full clone)")
        assert held.returncode == 0, f"{doc}: commit {commit} holds no runs/{name}/checkpoint"


def test_the_readme_is_a_manual_not_a_diary():
    readme = read("README.md")
    assert readme.count("\n") <= 300
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", readme), "dated status belongs in docs/experiments/*.md"
    assert "still training" not in readme and "so far" not in readme


def flag_table():
    """The Markdown table of every train_mnist.py flag, from TrainConfig's fields."""
    from draw_gluon.train.flags import FIELDS, option
    kinds = {"model": "kept", "resumable": "may change", "schedule": "may change (recorded)",
             "machine": "each command's own"}
    rows = ["| flag | also | default | on `--resume` | what it does |", "| --- | --- | --- | --- | --- |"]
    for name, field in FIELDS.items():
        meta = field.metadata
        aliases = [f"`{a}`" for a in meta["aliases"] if a != option(name)]
        if name in ("enc_size", "dec_size"):
            aliases.append("`-u`/`--num_recurrent_units` (both)")
        default = f"${meta['env']}" if meta["env"] else field.default
        text = meta["help"].format(resumable="the flags marked *may change*",
                                   machine="those marked *each command's own*").replace("%%", "%").replace("|", "\\|")
        rows.append(f"| `{option(name)}` | {', '.join(aliases)} | `{default}` | {kinds[meta['resume']]} | {text} |")
    return "\n".join(rows) + "\n"


def test_the_cli_flag_table_is_the_one_trainconfig_generates():
    table = TABLE.search(read("docs/cli.md"))
    assert table and table.group(2) == flag_table(), "docs/cli.md's flag table is stale: python tests/test_docs.py"


if __name__ == "__main__":  # rewrite docs/cli.md's flag table from TrainConfig
    path = os.path.join(ROOT, "docs", "cli.md")
    text = TABLE.sub(lambda m: m.group(1) + flag_table() + m.group(3), read("docs/cli.md"))
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
