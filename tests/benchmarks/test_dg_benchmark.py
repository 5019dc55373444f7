"""The DG benchmark: quick mode runs every method end to end with finite results (a CI smoke
test, in-process), a fold's stylizer pool never takes a style from the held-out source, a results
folder is resumed only under the settings that made it, and a killed run leaves no worker behind."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import signal
import sys
import time
import types
from pathlib import Path

import matplotlib.figure
import psutil
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, examples, load_script, make_small_model

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    """benchmarks/dg_benchmark.py as a module (it puts benchmarks/ on the path for its ``dg`` helpers)."""
    yield load_script(BENCHMARKS / "dg_benchmark.py")
    if str(BENCHMARKS) in sys.path:
        sys.path.remove(str(BENCHMARKS))


def test_quick_mode_runs_every_method_and_writes_finite_results(bench, tmp_path):
    assert bench.main(["--quick", "--out", str(tmp_path)]) == 0
    for name in ("results.json", "results.csv", "table.md", "dg.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    summary = json.loads((tmp_path / "results.json").read_text())["summary"]
    methods = bench.M.TRAIN_METHODS
    tta_rows = {f"{base} + {tta}" for base in bench.TTA_BASES for tta in bench.M.TTA_METHODS[1:]}
    assert set(summary["rows"]) == set(methods) | tta_rows
    assert all(math.isfinite(c["mean"]) and 0 <= c["mean"] <= 1 for c in summary["cells"].values())
    assert {c["ours"] for c in summary["comparisons"]} == {"ours_transform", "ours_batch"} | {
        f"{base} + {ours}{suffix}" for base in bench.TTA_BASES for ours in bench.M.TTA_OURS
        for suffix in bench.M.TTA_PROTOCOLS}
    lines = (tmp_path / "results.csv").read_text().strip().splitlines()
    assert len(lines) == 1 + 2 * (len(methods) + len(tta_rows))  # 2 seeds
    assert all(math.isfinite(float(line.split(",")[5])) for line in lines[1:])
    cached = [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert cached and all(name.endswith(".safetensors") for name in cached)  # nothing to unpickle on resume


def test_stylizer_pool_styles_come_from_other_training_sources(bench, tmp_path):
    sources = bench.SOURCES
    args = bench.parse_args(["--quick", "--out", str(tmp_path)])  # the small random stylizer: no weights to load
    args.crops, args.copies, args.folds = 6, 3, list(sources)
    run = bench.Run(args, sources={})

    def restyled(task, method, content, style):
        # each restyled set is filled with its style source's index, so the pool shows where its styles came from
        return torch.full((6, 3, 2, 2), sources.index(style), dtype=torch.uint8)

    run.restyled = restyled
    for fold in sources:
        pool = run.stylizer_pool("ours_batch", fold, "focus")
        kept = [s for s in sources if s != fold]
        assert pool.shape == (3, 6 * len(kept), 3, 2, 2)
        for i, content in enumerate(kept):
            styles = pool[:, 6 * i : 6 * (i + 1), 0, 0, 0]  # [copies, images]
            assert {sources[int(v)] for v in styles.flatten()} <= set(kept) - {content}
            assert all(len(set(col.tolist())) == 3 for col in styles.T)  # 3 copies: 3 different sources


@pytest.mark.parametrize("method", ["reinhard", "macenko"])
def test_peer_pool_references_come_from_other_training_sources(bench, method, monkeypatch):
    from dg import methods
    from dg.data import TaskData

    class Tagged:
        """A fitted normaliser whose output is its reference's tag (the reference source's index)."""

        def __init__(self, reference):
            self.tag = reference.flatten()[0]

        def normalize(self, I, stains=False):  # noqa: E741, N803 -- torchstain's keyword
            out = torch.full((*I.shape[1:], 3), float(self.tag))
            return (out, None, None) if method == "macenko" else out

    if method == "macenko":
        Tagged.maxCRef = None  # apply_normalizer tells Macenko's normaliser by this attribute
    monkeypatch.setattr(methods, "fitted_normalizers", lambda kind, refs: [Tagged(r) for r in refs])
    kept = list(bench.SOURCES[:4])
    references = {s: torch.full((3, 3, 2, 2), i, dtype=torch.uint8) for i, s in enumerate(kept)}
    train = TaskData(torch.full((4 * 8, 3, 2, 2), 255, dtype=torch.uint8), torch.zeros(32).long(),
                     [s for s in kept for _ in range(8)])
    pool = methods.build_pool(method, train, references, copies=5, seed=0)
    drawn = pool[:, :, 0, 0, 0]  # [copies, images]: the source index of each copy's reference
    for i, source in enumerate(train.sources):
        assert {kept[int(v)] for v in drawn[:, i]} <= set(kept) - {source}
    assert set(drawn.unique().tolist()) == {0, 1, 2, 3}  # every source's references are still drawn for the others

    with pytest.raises(ValueError, match="no reference of another source"):
        methods.build_pool(method, train, {kept[0]: references[kept[0]]}, copies=1, seed=0)


def test_comparisons_pair_ours_with_the_best_peer_seed_by_seed(bench):
    from dg.report import summarise

    records = []
    for seed, base in enumerate([0.6, 0.7, 0.8]):  # seeds differ a lot; the paired difference does not
        accuracies = {"none": base, "hed_light": base + 0.05, "reinhard": base - 0.1, "ours_batch": base + 0.1}
        for train, acc in accuracies.items():
            for fold in ("he_tcia", "ihc_colon"):
                records.append(
                    {"fold": fold, "task": "focus", "train": train, "test": "plain", "seed": seed, "accuracy": acc}
                )
    (row,) = [c for c in summarise(records)["comparisons"] if c["task"] == "all"]
    assert row["ours"] == "ours_batch" and row["peer"] == "hed_light"
    assert row["difference"] == pytest.approx(0.05) and row["ci95"] == pytest.approx(0.0, abs=1e-9)


def test_comparisons_are_also_given_without_the_seeds_that_chose_the_design(bench):
    from dg.report import markdown_tables, summarise

    # ours is 0.1 ahead on seeds 0-2, the seeds a design was picked on, and level with the peer on seeds 3-5
    records = []
    for seed in range(6):
        base = 0.6 + 0.05 * seed
        for train, acc in {"none": base, "ours_batch": base + (0.1 if seed < 3 else 0.0)}.items():
            records += [{"fold": fold, "task": "focus", "train": train, "test": "plain", "seed": seed, "accuracy": acc}
                        for fold in ("he_tcia", "ihc_colon")]
    summary = summarise(records, selection_seeds=[0, 1, 2])
    (pooled,) = [c for c in summary["comparisons"] if c["task"] == "all"]
    assert pooled["difference"] == pytest.approx(0.05)  # pooled, the choice's own seeds lift it
    split = summary["confirmatory"]
    assert split["seeds"] == [3, 4, 5] and split["selection_seeds"] == [0, 1, 2]
    (confirmed,) = [c for c in split["comparisons"] if c["task"] == "all"]
    assert confirmed["peer"] == "none" and confirmed["difference"] == pytest.approx(0.0, abs=1e-9)
    assert confirmed["ours_mean"] == pytest.approx(0.8) and confirmed["peer_mean"] == pytest.approx(0.8)  # 0.75-0.85
    assert "**The same on seeds 3–5 only**" in markdown_tables(summary)
    assert "confirmatory" not in summarise(records)  # no seed chose anything: nothing to split
    assert "confirmatory" not in summarise(records, selection_seeds=range(5))  # one seed left: no interval


@settings(max_examples=examples(40), deadline=None)
@given(st.lists(st.floats(0.0, 0.4), min_size=18, max_size=18), st.floats(0.0, 0.4))
def test_each_split_pairs_ours_with_the_peer_best_on_its_own_seeds(bench, lifts, ours_lift):
    """The confirmatory split picks its best peer by its mean on its own seeds, not over every seed:
    a peer that leads only on the selection seeds is not the one ours is measured against after."""
    from dg.report import summarise

    peers = ("none", "colorjitter", "hed_light")
    lift = {(peer, seed): lifts[3 * seed + i] for seed in range(6) for i, peer in enumerate(peers)}
    records = []
    for seed in range(6):
        accuracies = {peer: 0.5 + lift[(peer, seed)] for peer in peers} | {"ours_batch": 0.5 + ours_lift}
        records += [{"fold": fold, "task": "focus", "train": train, "test": "plain", "seed": seed, "accuracy": acc}
                    for train, acc in accuracies.items() for fold in ("he_tcia", "ihc_colon")]
    summary = summarise(records, selection_seeds=[0, 1, 2])
    for split, seeds in ((summary, range(6)), (summary["confirmatory"], range(3, 6))):
        (row,) = [c for c in split["comparisons"] if c["task"] == "all"]
        means = {peer: sum(0.5 + lift[(peer, s)] for s in seeds) / len(seeds) for peer in peers}
        assert means[row["peer"]] == pytest.approx(max(means.values()), abs=1e-12)
        assert row["peer_mean"] == pytest.approx(max(means.values()), abs=1e-12)


def test_the_confirmatory_split_names_a_peer_that_leads_only_there(bench):
    from dg.report import markdown_tables, summarise

    # HED jitter leads on seeds 0-2 (the selection seeds) and over all six; ColorJitter on seeds 3-5
    records = []
    for seed in range(6):
        accuracies = {"none": 0.6, "hed_light": 0.72 if seed < 3 else 0.6, "colorjitter": 0.65, "ours_batch": 0.64}
        records += [{"fold": fold, "task": "focus", "train": train, "test": "plain", "seed": seed, "accuracy": acc}
                    for train, acc in accuracies.items() for fold in ("he_tcia", "ihc_colon")]
    summary = summarise(records, selection_seeds=[0, 1, 2])
    (pooled,) = [c for c in summary["comparisons"] if c["task"] == "all"]
    (confirmed,) = [c for c in summary["confirmatory"]["comparisons"] if c["task"] == "all"]
    assert pooled["peer"] == "hed_light" and confirmed["peer"] == "colorjitter"
    assert confirmed["difference"] == pytest.approx(0.64 - 0.65)  # behind the peer that leads on these seeds
    assert "(0.640 vs 0.650, ColorJitter)" in markdown_tables(summary)


def test_the_docs_show_the_committed_tables():
    """docs/benchmarks.md prints benchmarks/results/dg/table.md (all but its comment line) as it is, so a
    rerun's rows cannot be committed without the page that cites them."""
    table = (BENCHMARKS / "results" / "dg" / "table.md").read_text(encoding="utf-8")
    page = (BENCHMARKS.parent / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert table.startswith("<!-- ") and table.split("\n", 2)[2] in page


def test_report_only_rewrites_the_tables_from_the_csv_without_training(bench, tmp_path):
    committed = BENCHMARKS / "results" / "dg"
    for name in ("results.csv", "results.json"):
        (tmp_path / name).write_bytes((committed / name).read_bytes())
    with pytest.raises(SystemExit, match="lacks them: run the benchmark there without --report-only"):
        bench.main(["--out", str(tmp_path / "empty"), "--report-only"])
    assert bench.main(["--out", str(tmp_path), "--report-only", "--selection-seeds", "0", "1", "2", "3", "4"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv", "results.json", "table.md"]  # no training
    old, new = (json.loads((folder / "results.json").read_text()) for folder in (committed, tmp_path))
    assert new["summary"]["cells"] == old["summary"]["cells"]
    assert {k: v for k, v in new["meta"].items() if k != "report_rewritten"} == {
        k: v for k, v in old["meta"].items() if k != "report_rewritten"}  # how it was measured: kept
    # each confirmatory comparison is the per-seed difference of the means over tasks x folds, on seeds 5-9 only
    rows = [line.split(",") for line in (tmp_path / "results.csv").read_text().strip().splitlines()[1:]]

    def per_seed(row: str, seed: int) -> float:
        train, _, test = row.partition(" + ")
        found = [float(r[5]) for r in rows if (r[2], r[3], int(r[4])) == (train, test or "plain", seed)]
        assert len(found) == 10  # 5 held-out sources x 2 tasks
        return sum(found) / len(found)

    split = new["summary"]["confirmatory"]
    assert split["seeds"] == [5, 6, 7, 8, 9]
    for c in [c for c in split["comparisons"] if c["task"] == "all"]:
        diffs = [per_seed(c["ours"], s) - per_seed(c["peer"], s) for s in split["seeds"]]
        assert c["difference"] == pytest.approx(sum(diffs) / len(diffs), abs=1e-12)
    table = (tmp_path / "table.md").read_text()
    assert "**The same on seeds 5–9 only**" in table
    reruns = old["meta"]["rows_rerun"]
    assert reruns, "the stored results record no rerun of rows: this check would check nothing"
    for rerun in reruns:  # the comment line dates every rerun, not only the first run
        assert f"{', '.join(rerun['rows'])} rerun {rerun['machine']['date']}" in table.split("\n", 1)[0]


def test_both_test_time_protocols_spend_the_same_views(bench):
    # the original predicts 0, view k predicts k: each protocol's mean shows which views it took
    stacked = torch.arange(5.0).view(5, 1, 1).expand(5, 3, 2)
    merged = bench.M.protocol_probabilities({"tta_style": stacked})
    assert set(merged) == {"tta_style", "tta_style_orig"}
    assert torch.equal(merged["tta_style"], torch.full((3, 2), 2.5))  # views 1-4
    assert torch.equal(merged["tta_style_orig"], torch.full((3, 2), 1.5))  # the original + views 1-3


def _quick_run(bench, out: Path, *flags: str):
    """A ``Run`` of the quick settings in ``out`` (the small random stylizer; no data built)."""
    return bench.Run(bench.parse_args(["--quick", "--out", str(out), *flags]), sources={})


def test_a_results_folder_is_resumed_only_under_the_settings_that_made_it(bench, tmp_path):
    first = _quick_run(bench, tmp_path / "out")
    tmp_path = tmp_path / "out"
    record = {"fold": "ihc_colon", "task": "focus", "train": "none", "test": "plain", "seed": 0, "accuracy": 0.5}
    first.save_record(record)
    # the same settings (another seed count, fewer workers) resume and see the record
    assert _quick_run(bench, tmp_path).record_path("ihc_colon", "focus", "none", "plain", 0).exists()
    changed = bench.parse_args(["--quick", "--out", str(tmp_path)])
    changed.steps, changed.crops = changed.steps + 1, changed.crops + 1
    with pytest.raises(SystemExit, match=r"--crops: 4 there, 5 now; --steps: 2 there, 3 now\).*another --out"):
        bench.Run(changed, sources={})
    # another stylizer's pools and records are not reported as this one's (the probe's --checkpoint my_run/)
    other = make_small_model(seed=1)  # the quick stylizer's network with other weights
    checkpoint = sva.save_pretrained(other, tmp_path.parent / "my_run", mean=CAMELYON_MEAN, std=CAMELYON_STD)
    with pytest.raises(SystemExit, match=r"--checkpoint \(stylizer\).*use another --out, or delete"):
        _quick_run(bench, tmp_path, "--checkpoint", str(checkpoint))
    # a run that needs no stylizer does not load one, and its records do not depend on it
    assert "stylizer" not in _quick_run(bench, tmp_path / "peers", "--methods", "colorjitter").settings()


def test_a_folder_of_results_without_settings_is_refused(bench, tmp_path):
    (tmp_path / "cache" / "pools").mkdir(parents=True)
    (tmp_path / "cache" / "pools" / "focus__ours_batch__a__by__b.safetensors").write_bytes(b"old")
    with pytest.raises(SystemExit, match="recorded no settings.json.*use another --out"):
        _quick_run(bench, tmp_path)


def test_the_committed_results_folder_records_the_settings_that_made_it(bench, tmp_path):
    """benchmarks/results/dg had no settings.json (its numbers predate it), so nothing said which settings and
    stylizer made them, and a rerun there could not be checked against them. The committed command's settings
    (results.json's config) claim the recorded file as their own: accepted, and not rewritten."""
    committed = BENCHMARKS / "results" / "dg"
    recorded = (committed / bench.SETTINGS_FILE).read_text()
    config = json.loads((committed / "results.json").read_text())["meta"]["config"]
    argv = ["--out", str(tmp_path), "--seeds", str(len(config["seeds"]))]
    for name in (*bench.RESULT_SETTINGS, "steps", "batch_size", "lr", "p"):
        argv += [f"--{name.replace('_', '-')}", str(config[name])]
    (tmp_path / bench.SETTINGS_FILE).write_text(recorded)
    run = bench.Run(bench.parse_args(argv), sources={})  # refused if any setting, or the stylizer, differs
    assert {k: v for k, v in json.loads(recorded).items() if not k.startswith("_")} == run.settings()
    assert (tmp_path / bench.SETTINGS_FILE).read_text() == recorded


def test_training_refuses_a_pool_of_other_images(bench):
    from dg.train import train_classifier

    images, labels = torch.zeros(8, 3, 16, 16, dtype=torch.uint8), torch.arange(8) % 2
    stale = torch.zeros(1, 16, 3, 16, 16, dtype=torch.uint8)  # made under --crops 4, trained under --crops 2
    with pytest.raises(ValueError, match="copies of 16 images but there are 8 training images"):
        train_classifier(images, labels, stale, bench.RECIPE, seed=0)


def test_more_test_time_views_than_references_is_refused_before_training(bench, tmp_path, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(["--out", str(tmp_path), "--references", "1", "--tta-views", "5"])
    assert "--tta-views 5: between 1 and 4" in capsys.readouterr().err
    assert bench.parse_args(["--out", str(tmp_path), "--references", "1", "--tta-views", "4"]).tta_views == 4


def test_fresh_seeds_start_where_asked_and_train_the_same_classifier_as_in_a_longer_run(bench, tmp_path, capsys):
    """A confirmatory run on seeds no design choice saw (``--first-seed 10``) trains exactly the
    classifiers a run over seeds 0-19 would train for those seeds, so its rows pair with earlier runs."""
    assert bench.parse_args(["--out", str(tmp_path), "--first-seed", "10", "--seeds", "3"]).seeds == [10, 11, 12]
    assert bench.parse_args(["--out", str(tmp_path)]).seeds == list(range(5))
    for flags, said in ((["--seeds", "0"], "must be a positive integer"), (["--first-seed", "-1"], "0 or more")):
        with pytest.raises(SystemExit):
            bench.parse_args(["--out", str(tmp_path), *flags])
        assert said in capsys.readouterr().err
    fresh, longer = (bench.main(["--quick", "--out", str(tmp_path / name), *flags])
                     for name, flags in (("fresh", ["--first-seed", "1"]), ("longer", [])))  # quick: 2 seeds
    assert fresh == longer == 0
    records = {name: {(r["train"], r["test"], int(r["seed"])): float(r["accuracy"])
                      for r in bench.read_csv(tmp_path / name / "results.csv")}
               for name in ("fresh", "longer")}
    assert {key[2] for key in records["fresh"]} == {1, 2} and {key[2] for key in records["longer"]} == {0, 1}
    shared = {key: acc for key, acc in records["fresh"].items() if key[2] == 1}
    assert len(shared) == len(records["fresh"]) // 2
    assert shared == {key: acc for key, acc in records["longer"].items() if key[2] == 1}


def test_outputs_are_written_whole_or_not_at_all(bench, tmp_path, monkeypatch):
    from dg.report import plot, summarise, write_csv

    records = [{"fold": "ihc_colon", "task": "focus", "train": "none", "test": "plain", "seed": s, "accuracy": 0.5,
                "seconds": 1.0} for s in range(2)]
    write_csv(records, tmp_path / "results.csv")
    before = (tmp_path / "results.csv").read_bytes()
    with pytest.raises(KeyError):
        write_csv([{"task": "focus"}], tmp_path / "results.csv")  # fails after the file would have been opened
    assert (tmp_path / "results.csv").read_bytes() == before

    (tmp_path / "dg.png").write_bytes(b"the previous plot")

    def half_written(self, path, **kwargs):
        Path(path).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", half_written)
    with pytest.raises(OSError):
        plot(summarise(records), tmp_path / "dg.png", "title")
    assert (tmp_path / "dg.png").read_bytes() == b"the previous plot"


def _busy_workers(process: psutil.Process, out: Path, timeout: float) -> list[psutil.Process]:
    """The run's two pool workers, once each is inside its unit (it left a file in ``out``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(list(out.glob("*.started"))) == 2:
            return process.children()
        time.sleep(0.05)
    raise AssertionError(f"the run's workers did not start their units within {timeout} s")


def _run_forever(bench, out: Path) -> None:
    """The benchmark's ``execute`` on two (fold, task) units that never end, on two workers (in a child)."""
    sys.modules[bench.__name__] = bench  # so the workers' units pickle by name, as the script's do as __main__
    folds = ["--folds", "ihc_colon", "he_tcia"]
    args = bench.parse_args(["--out", str(out), *folds, "--tasks", "focus", "--workers", "2"])

    def train_fold(fold: str, task: str) -> None:
        (out / f"{fold}.started").touch()
        time.sleep(600)

    bench.execute(types.SimpleNamespace(args=args, pair_units=list, train_fold=train_fold))


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_killed_run_leaves_no_worker_running(bench, tmp_path, how):
    # a forked copy of this process (torch already imported: fast) runs the benchmark's pool
    main = multiprocessing.get_context("fork").Process(target=_run_forever, args=(bench, tmp_path))
    main.start()
    workers: list[psutil.Process] = []
    try:
        workers = _busy_workers(psutil.Process(main.pid), tmp_path, timeout=30)
        assert len(workers) == 2 and main.is_alive()
        os.kill(main.pid, how)
        main.join(timeout=30)
        assert main.exitcode in (128 + how, -how), main.exitcode  # stopped by the signal, not by an error
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive, f"workers {[p.pid for p in alive]} outlived the run"
    finally:
        for process in [*workers, psutil.Process(main.pid)] if main.is_alive() else workers:
            if process.is_running():
                process.kill()


def test_a_run_of_ours_alone_reports_its_rows_without_comparisons(bench):
    """A run of our rows only (the opt-in variants, a strict fold's stylizer), to be paired with another run's
    rows, has no peer in it: its report gives the rows and no empty comparison tables (it raised on max())."""
    from dg.report import markdown_tables, summarise

    records = [{"fold": fold, "task": "focus", "train": train, "test": "plain", "seed": seed,
                "accuracy": 0.5 + 0.1 * seed}
               for seed in range(3) for train in bench.M.STAIN_VARIANTS for fold in ("he_tcia", "ihc_colon")]
    summary = summarise(records)
    assert summary["comparisons"] == [] and set(summary["rows"]) == set(bench.M.STAIN_VARIANTS)
    tables = markdown_tables(summary)
    assert "stain transfer + network" in tables and "stain transfer alone" in tables
    assert "minus the best other method" not in tables


def test_stain_variants_move_the_tissue_to_a_reference_and_keep_the_glass(bench, histology_crops, tmp_path):
    """``ours_stain``: each crop's tissue takes one reference's stains and its glass stays exact; ``ours_stain_network``
    then restyles it with that same reference; a pair's seed fixes which reference each crop takes."""
    crops = torch.stack([torch.from_numpy(crop[:64, :64]).permute(2, 0, 1) for crop in histology_crops])
    content, references = crops[:3].clone(), crops[3:]
    content[..., :20] = 250  # glass, the left 8 px beyond the tissue's reach
    stylizer = bench.small_random_stylizer()
    stain, none = bench.M.stylized_pair("ours_stain", content, references, stylizer, seed=3)
    assert none is None and stain.shape == content.shape and stain.dtype == torch.uint8
    assert torch.equal(stain[..., :8], content[..., :8])  # glass kept
    assert (stain[..., 24:] != content[..., 24:]).float().mean() > 0.5  # the tissue moved
    assert torch.equal(bench.M.stylized_pair("ours_stain", content, references, stylizer, seed=3)[0], stain)
    chained = bench.M.stylized_pair("ours_stain_network", content, references, stylizer, seed=3)[0]
    assert chained.shape == content.shape and not torch.equal(chained, stain)
    args = bench.parse_args(["--out", str(tmp_path), "--methods", "ours_stain", "--folds", "he_tcia"])
    units = bench.Run(args, sources={}).pair_units()
    assert {(u[2], u[3]) for u in units if u[0] == "focus"} == {  # every ordered pair, as ours_transform's bank
        (a, b) for a in bench.SOURCES for b in bench.SOURCES if a != b and "he_tcia" not in (a, b)}


def test_a_classifier_whose_saved_copy_is_gone_is_trained_again_for_the_test_time_rows_that_need_it(bench, tmp_path):
    """A resumed run found a classifier's record but not its saved copy (a deleted cache) and failed at the test-time
    methods with FileNotFoundError; it is trained again (seeded: the same classifier), and only where needed."""
    args = bench.parse_args(["--out", str(tmp_path), "--methods", "ours_transform", "ours_batch", "--seeds", "1"])
    run = bench.Run(args, sources={})
    fold, task = "he_tcia", "focus"
    for method in ("ours_transform", "ours_batch"):
        run.save_record({"fold": fold, "task": task, "train": method, "test": "plain", "seed": 0, "accuracy": 0.5,
                         "seconds": 1.0})
    assert not run.needs_training(fold, task, "ours_batch", 0)  # no test-time row is made on it
    assert run.needs_training(fold, task, "ours_transform", 0)  # its test-time rows need the classifier
    for test in bench.M.TTA_METHODS[1:]:
        run.save_record({"fold": fold, "task": task, "train": "ours_transform", "test": test, "seed": 0,
                         "accuracy": 0.5, "seconds": 1.0})
    assert not run.needs_training(fold, task, "ours_transform", 0)  # every row it served is there
    assert run.needs_training(fold, task, "ours_transform", 1)  # no record at all


@pytest.mark.parametrize("mode", [None, "detail", "resize"])
def test_mode_sets_the_stylizers_mode_which_the_settings_record(bench, tmp_path, mode):
    """``--mode`` measures ours in another mode of the engine (in a results folder of its own)."""
    args = bench.parse_args(["--quick", "--out", str(tmp_path), *(["--mode", mode] if mode else [])])
    assert bench.Run(args, sources={}).stylizer.mode == (mode or "relative")


def test_a_stack_jitters_its_base_methods_copies_and_asks_for_the_base_methods_restyled_sets(bench, tmp_path):
    """``ours_transform_colorjitter``: ``ours_transform``'s pool, each copy then ColorJitter'd (seeded: the same again);
    a run of it alone makes ``ours_transform``'s restyled sets, and none of a method it does not take."""
    args = bench.parse_args(["--out", str(tmp_path), "--methods", "ours_transform_colorjitter", "--folds", "he_tcia"])
    run = bench.Run(args, sources={})
    assert run.stylizer_methods() == ["ours_transform"]
    assert {unit[1] for unit in run.pair_units()} == {"ours_transform"}
    base = torch.randint(0, 256, (2, 3, 3, 8, 8), dtype=torch.uint8)
    run.stylizer_pool = lambda method, fold, task: base if method == "ours_transform" else None
    pool = run.pool("ours_transform_colorjitter", "he_tcia", "focus", train=None)
    assert pool.shape == base.shape and pool.dtype == torch.uint8 and not torch.equal(pool, base)
    assert torch.equal(run.pool("ours_transform_colorjitter", "he_tcia", "focus", train=None), pool)


def test_test_time_bases_default_to_none_and_ours_and_a_named_one_must_be_trained(bench, tmp_path, capsys):
    """``--tta-bases``: the classifiers the test-time methods run on; by default the plain and ours (those of them in
    ``--methods``), as before it existed; a base that no requested method trains is refused before training."""
    assert bench.parse_args(["--out", str(tmp_path)]).tta_bases == list(bench.TTA_BASES)
    assert bench.parse_args(["--out", str(tmp_path), "--methods", "none", "colorjitter"]).tta_bases == ["none"]
    args = bench.parse_args(["--out", str(tmp_path), "--methods", "randstainna", "macenko",
                             "--tta-bases", "randstainna", "macenko"])
    assert args.tta_bases == ["randstainna", "macenko"]
    with pytest.raises(SystemExit):
        bench.parse_args(["--out", str(tmp_path), "--methods", "randstainna", "--tta-bases", "randstainna", "macenko"])
    assert "--tta-bases macenko: not in --methods" in capsys.readouterr().err


def test_a_peers_classifier_as_test_time_base_is_kept_and_gets_every_test_time_row(bench, tmp_path):
    """A peer named in ``--tta-bases`` is a base as ours is: its classifier is saved (and trained again if a resumed
    run lost it), the stylizer it needs for StyleTTA is recorded in the settings, and its test-time rows are made."""
    from safetensors.torch import save_file

    from dg.data import build_sources
    from dg.train import SmallCNN

    sources = build_sources(4, 1, 64)
    fold, task = "ihc_colon", "focus"

    def rows(out: Path, *flags: str) -> dict:
        run = bench.Run(bench.parse_args(["--quick", "--out", str(out), *flags]), sources)
        for base in run.tta_bases():
            for seed in run.args.seeds:
                run.save_record({"fold": fold, "task": task, "train": base, "test": "plain", "seed": seed,
                                 "accuracy": 0.5, "seconds": 1.0})
                assert run.needs_training(fold, task, base, seed)  # its saved classifier is missing
                torch.manual_seed(10 * bench.M.METHOD_KEYS.index(base) + seed)
                model = SmallCNN(run.recipe.widths, stem=run.recipe.stem)
                save_file(model.state_dict(), str(run.model_path(fold, task, base, seed)))
                assert not run.needs_training(fold, task, base, seed)
        run.tta_fold(fold, task)
        assert "stylizer" in run.settings()
        return {(r["train"], r["test"], r["seed"]): r["accuracy"] for r in run.records()}

    default = rows(tmp_path / "default", "--methods", "none", "randstainna")
    peers = rows(tmp_path / "peers", "--methods", "none", "randstainna", "--tta-bases", "none", "randstainna")
    tests = bench.M.TTA_METHODS
    assert set(default) == {("none", t, s) for t in tests for s in (0, 1)}
    assert set(peers) == set(default) | {("randstainna", t, s) for t in tests for s in (0, 1)}
    assert {k: peers[k] for k in default} == default  # another base changes no row of the default's


def test_rows_of_two_runs_pair_over_seeds_only_when_the_rows_they_share_agree(bench, tmp_path):
    """dg/across.py: a peer's classifier under test-time normalisation (a ``--tta-bases`` run) against StyleTTA on
    ours (the main run), paired seed by seed; runs whose shared rows differ (other settings) are refused."""
    from dg import across
    from dg.report import write_csv

    def run(name: str, rows: dict[str, float]) -> Path:
        records = [{"fold": fold, "task": task, "train": row.split(" + ")[0], "seed": seed, "seconds": 1.0,
                    "test": row.split(" + ")[1] if " + " in row else "plain", "accuracy": value + 0.01 * seed}
                   for row, value in rows.items() for fold in bench.SOURCES for task in bench.TASKS
                   for seed in (0, 1, 2)]
        (tmp_path / name).mkdir()
        write_csv(records, tmp_path / name / "results.csv")
        return tmp_path / name

    main = run("main", {"none": 0.5, "ours_transform": 0.6, "ours_transform + tta_style_orig": 0.8,
                        "ours_transform + tta_macenko_orig": 0.7})
    peers = run("peers", {"randstainna": 0.55, "randstainna + tta_macenko_orig": 0.9, "none": 0.5})
    text = across.tables(across.merged([main, peers]))
    row = "| RandStainNA → TTA: original + Macenko normalisation | "
    assert row + "0.910 ± 0.025 | 0.910 ± 0.025 | **0.910 ± 0.025** |" in text  # the best mean, bold, though not ours
    assert row + "-0.100 ± 0.000 | -0.100 ± 0.000 | -0.100 ± 0.000 |" in text  # ours minus it, seed by seed
    other = run("other", {"none": 0.4})
    with pytest.raises(SystemExit, match="not of the same settings"):
        across.merged([main, other])


def test_runs_of_other_seeds_pool_and_a_row_of_fewer_seeds_says_how_many(bench, tmp_path):
    """dg/across.py: a fresh-seed run (``--first-seed``) pooled with the main run gives each training-time method
    over every seed, ours paired with each peer over the seeds both have; a method only one run holds is given over
    its own seeds and says how many, rather than under a header that claims all of them."""
    from dg import across
    from dg.report import write_csv

    def run(name: str, rows: dict[str, float], seeds: range) -> Path:
        records = [{"fold": fold, "task": task, "train": row, "seed": seed, "seconds": 1.0, "test": "plain",
                    "accuracy": value + 0.01 * (seed % 3)}
                   for row, value in rows.items() for fold in bench.SOURCES for task in bench.TASKS for seed in seeds]
        (tmp_path / name).mkdir()
        write_csv(records, tmp_path / name / "results.csv")
        return tmp_path / name

    main = run("main", {"ours_transform": 0.7, "randstainna": 0.6, "macenko": 0.5, "hestain": 0.9}, range(0, 3))
    fresh = run("fresh", {"ours_transform": 0.7, "randstainna": 0.65}, range(3, 6))
    text = across.training_tables(across.merged([main, fresh]), selection_seeds=(0,))
    assert "over seeds 0–5" in text and "| method | focus | scale | both | both, seeds 1–5 |" in text
    assert "| Macenko transfer (random train ref) | 0.510 ± 0.025 (3 seeds) |" in text
    stylize = "| **ours**: StylizeTransform (other-source bank) − "
    assert stylize + "RandStainNA | +0.075 ± 0.029 | +0.075 ± 0.029 | +0.075 ± 0.029 |" in text  # 0.1 then 0.05
    assert stylize + "Macenko transfer (random train ref) | +0.200 ± 0.000 (3 seeds) |" in text
    # a row of fewer seeds ranks after those over every seed, however high its mean on its own seeds
    assert text.index(stylize + "RandStainNA |") < text.index(stylize + "albumentations HEStain |")
