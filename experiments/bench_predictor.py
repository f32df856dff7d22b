"""Accuracy predictor: how well it ranks subnets it never saw, and how fast a search runs on it.

1. Scores ``--subnets`` distinct random subnets of a trained supernet with inherited weights
   (minival accuracy, as the ``supernet`` evaluator does); the scores are kept in a CSV under
   ``experiments/data/supernet/`` so a rerun resumes instead of scoring again.
2. Holds out ``--holdout`` of them (seeded) and reports each predictor family's Kendall tau on the
   held-out subnets, fitted on the rest (and on fewer of them), beside the tau of MACs alone.
3. With ``--retest``, scores the held-out subnets again on the dataset's test split (10,000
   images on Fashion-MNIST, never trained on or ranked with), in two halves as large as minival:
   how well one such score ranks subnets against another bounds what any predictor of minival
   accuracy can reach, and the predictor's tau against the test split says whether it ranks as
   well as a supernet score does.
4. With ``--pooled``, scores every subnet on the test split (cached) and fits the predictor on
   pooled scores as well (minival and both test halves averaged: three times minival's images),
   to separate what minival's noise costs a predictor from what the predictor itself misses.
5. Times a ``--trials``-trial search whose evaluator is the predictor (the supernet scores the
   first round of ``--real`` trials, then the predictor the rest): the seconds after the predictor
   was fitted, per trial and for the whole budget.

    python experiments/bench_predictor.py --checkpoint runs/supernet_fmnist
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import cached_rows, write_section

from nas.cost import arch_cost
from nas.evaluators import encode, fit_predictor
from nas.evaluators._predictor import MODELS, tau
from nas.search import SearchConfig, run_search
from nas.supernet import SubnetScorer

HERE = Path(__file__).resolve().parent


def scored_subnets(checkpoint: str, n: int, seed: int, cache: Path) -> list[tuple[str, float]]:
    """``n`` distinct random subnets with their minival accuracy, scoring only those not cached."""
    scorer = SubnetScorer(checkpoint)
    rng = np.random.default_rng(seed)
    archs: list[str] = []
    for _ in range(20 * n):  # bounded; the space has far more than n archs
        if len(archs) == n:
            break
        text = scorer.space.sample(rng).text
        if text not in archs:
            archs.append(text)

    def row(text: str) -> dict[str, float]:
        s = scorer.score_timed(text)
        return {"accuracy": s.accuracy, "seconds": round(s.seconds, 3)}

    done = cached_rows(cache, ("arch", "accuracy", "seconds"), archs, row)
    return [(a, float(done[a]["accuracy"])) for a in archs]


def retest_scores(checkpoint: str, archs: list[str], cache: Path) -> np.ndarray:
    """Each arch's accuracy on the two halves of the test split, shape (len(archs), 2); cached."""
    import torch

    from nas.data import resize
    from nas.recipe import evaluate

    @functools.cache
    def scorer() -> SubnetScorer:  # loads the supernet and the test split: only when needed
        return SubnetScorer(checkpoint, split="test")

    @functools.cache
    def resized(resolution: int) -> torch.Tensor:  # one resize per resolution, not per subnet
        return resize(scorer().x, resolution)

    def row(text: str) -> dict[str, float]:
        arch = scorer().arch(text)
        model, x, y = scorer().model(arch), resized(arch.resolution), scorer().y
        half = len(y) // 2
        a, b = (evaluate(model, x[part], y[part], 500, torch.device("cpu"))[1]
                for part in (slice(None, half), slice(half, None)))
        return {"test_a": a, "test_b": b}

    done = cached_rows(cache, ("arch", "test_a", "test_b"), archs, row)
    return np.array([[float(done[a]["test_a"]), float(done[a]["test_b"])] for a in archs])


def retest_rows(checkpoint: str, archs: list[str], x: np.ndarray, y: np.ndarray, all_macs: np.ndarray,
                out: np.ndarray, keep: np.ndarray, seed: int, cache: Path) -> list[str]:
    """Table rows: tau of minival, of the predictor and of MACs against independent test-split scores."""
    test = retest_scores(checkpoint, [archs[i] for i in out], cache)
    both = test.mean(axis=1)
    pred = fit_predictor(x[keep], y[keep], model="auto", holdout=0.2, seed=seed).predict(x[out])
    macs = all_macs[out]
    r = np.corrcoef(test[:, 0], test[:, 1])[0, 1]
    ceiling = _ceiling(r, 1)
    return [
        f"| minival (the supernet score) | 1 | {tau(y[out], test[:, 0]):.3f} / "
        f"{tau(y[out], test[:, 1]):.3f} | {tau(y[out], both):.3f} |",
        f"| test half A against test half B | | {tau(test[:, 0], test[:, 1]):.3f} | |",
        f"| predictor (auto, fitted on {len(keep)}) | {tau(pred, y[out]):.3f} | {tau(pred, test[:, 0]):.3f} / "
        f"{tau(pred, test[:, 1]):.3f} | {tau(pred, both):.3f} |",
        f"| MACs | {tau(macs, y[out]):.3f} | {tau(macs, test[:, 0]):.3f} / {tau(macs, test[:, 1]):.3f} | "
        f"{tau(macs, both):.3f} |",
        "",
        f"Pearson r between the two test halves: {r:.3f}. A perfect predictor of a subnet's accuracy on "
        f"unlimited images would reach about τ = (2/π)·arcsin(√r) = **{ceiling:.2f}** against a score "
        "on as many images as a test half, such as minival (normal errors assumed).",
    ]


def _ceiling(r: float, k: float) -> float:
    """Kendall tau a perfect predictor reaches against a score on ``k`` times the images of one
    whose two independent halves correlate by Pearson ``r`` (Spearman-Brown, normal errors)."""
    rel = k * r / (1 + (k - 1) * r)
    return float(2 / np.pi * np.arcsin(np.sqrt(max(rel, 0.0))))


def pooled_rows(checkpoint: str, archs: list[str], x: np.ndarray, y: np.ndarray, holdout: float,
                seeds: list[int], cache: Path) -> list[str]:
    """Table rows: the predictor fitted on minival scores against one fitted on pooled scores
    (minival and both test halves averaged: three times minival's images), each ranked against
    the held-out subnets' minival, test and pooled scores, by training-set size; the mean over
    one held-out split per seed (with its standard error when there are several)."""
    test = retest_scores(checkpoint, archs, cache)  # every subnet, not only the held-out ones
    pooled = (y + test[:, 0] + test[:, 1]) / 3
    cells: dict[tuple[str, int], list[list[float]]] = {}
    for seed in seeds:
        out, keep = _split(len(y), holdout, seed)
        held = (y[out], test[out].mean(axis=1), pooled[out])
        for target, name in ((y, "minival"), (pooled, "pooled")):
            for size in _sizes(len(keep), (100, 200)):
                train = keep[:size]
                fitted = fit_predictor(x[train], target[train], model="auto", holdout=0.2, seed=seed)
                pred = fitted.predict(x[out])
                cells.setdefault((name, size), []).append([tau(pred, h) for h in held])

    def show(values: list[float]) -> str:
        if len(values) == 1:
            return f"{values[0]:.3f}"
        return f"{np.mean(values):.3f} ± {np.std(values, ddof=1) / np.sqrt(len(values)):.3f}"

    rows = [f"| {name}, {size} subnets | " + " | ".join(show(list(col)) for col in zip(*v, strict=True)) + " |"
            for (name, size), v in cells.items()]
    r = float(np.corrcoef(test[:, 0], test[:, 1])[0, 1])
    rows.append(f"| a perfect predictor, about | {_ceiling(r, 1):.2f} | {_ceiling(r, 2):.2f} | "
                f"{_ceiling(r, 3):.2f} |")
    return [*rows, "", f"Pearson r between the two test halves over all {len(y)} subnets: {r:.3f}."]


def features(checkpoint: str, subnets: list[tuple[str, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The predictor's encoding, the minival accuracy and the MACs of each scored subnet."""
    from nas.arch import Arch
    from nas.supernet import load_supernet

    sn = load_supernet(checkpoint)
    archs = [Arch.parse(a) for a, _ in subnets]
    x = np.stack([encode(a, sn.space) for a in archs])
    macs = np.array([arch_cost(a, sn.space, classes=sn.classes, in_channels=sn.in_channels).macs
                     for a in archs])
    return x, np.array([acc for _, acc in subnets]), macs


def _sizes(n: int, steps: tuple[int, ...]) -> list[int]:
    """The training-set sizes a table reports: each step below ``n``, then ``n`` itself."""
    return sorted({n, *(s for s in steps if s < n)})


def _split(n: int, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (held out, kept) of ``n`` scored subnets."""
    order = np.random.default_rng(seed).permutation(n)
    n_out = round(n * holdout)
    return order[:n_out], order[n_out:]


def rank_quality(x: np.ndarray, y: np.ndarray, macs: np.ndarray, out: np.ndarray, keep: np.ndarray,
                 seed: int) -> list[str]:
    """Table rows: held-out Kendall tau of each predictor family by training-set size."""
    rows, macs_tau = [], tau(macs[out], y[out])
    for size in _sizes(len(keep), (50, 100, 200)):
        train = keep[:size]
        cells = []
        for model in MODELS:
            fitted = fit_predictor(x[train], y[train], model=model, holdout=0.2, seed=seed)
            cells.append(f"{tau(fitted.predict(x[out]), y[out]):.3f}")
        auto = fit_predictor(x[train], y[train], model="auto", holdout=0.2, seed=seed)
        t = tau(auto.predict(x[out]), y[out])
        rows.append(f"| {size} | {' | '.join(cells)} | **{t:.3f}** ({auto.name}) | {macs_tau:.3f} |")
    return rows


def timed_search(checkpoint: str, trials: int, real: int, seed: int) -> dict[str, float]:
    from nas.supernet import load_supernet

    sn = load_supernet(checkpoint)
    cfg = SearchConfig.from_dict({
        "name": "predictor_bench", "space": sn.space.path or sn.space.name, "dataset": sn.dataset,
        "resolutions": list(sn.space.resolutions), "objectives": ["accuracy", "latency:cpu_torch_mobilenet_v3"],
        "sampler": {"name": "nsga2", "seed": seed}, "n_trials": trials,
        "evaluator": {"kind": "predictor", "checkpoint": checkpoint, "real": real, "predicted": 10 ** 6}})
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run = run_search(cfg, Path(tmp) / "run", progress=False, report=True)
        wall = time.perf_counter() - t0
        trials_ = run.study().get_trials(deepcopy=False)
    fitted = [t for t in trials_ if "predictor:tau" in t.user_attrs]
    if not fitted or fitted[0].datetime_complete is None:
        raise SystemExit("the predictor was never fitted: raise --trials above --real")
    after = [t for t in trials_ if t.number > fitted[0].number]
    end = max(t.datetime_complete for t in after if t.datetime_complete is not None)
    seconds = (end - fitted[0].datetime_complete).total_seconds()
    return {"wall_s": wall, "after_fit_s": seconds, "after_fit_trials": len(after),
            "ms_per_trial": seconds / max(1, len(after)) * 1e3,
            "per_1000_s": seconds / max(1, len(after)) * 1000, "search_tau": fitted[0].user_attrs["predictor:tau"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="supernet folder (nas supernet train --out)")
    ap.add_argument("--subnets", type=int, default=300)
    ap.add_argument("--holdout", type=float, default=0.25)
    ap.add_argument("--trials", type=int, default=1100, help="search budget (the first --real scored for real)")
    ap.add_argument("--real", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--retest", action="store_true",
                    help="also score the held-out subnets on the test split (the ceiling; cached)")
    ap.add_argument("--pooled", action="store_true",
                    help="also score every subnet on the test split and fit the predictor on pooled "
                         "minival+test scores (three times minival's images; cached)")
    ap.add_argument("--splits", type=int, default=1,
                    help="--pooled: average over this many held-out splits (seeds --seed, --seed+1, ...)")
    ap.add_argument("--note", default="", help="a paragraph appended to the RESULTS.md section")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--section", default="predictor", help="RESULTS.md section to write")
    args = ap.parse_args()
    name = Path(args.checkpoint).name
    cache = HERE / "data" / "supernet" / f"predictor_scores_{name}.csv"
    subnets = scored_subnets(args.checkpoint, args.subnets, args.seed, cache)
    x, y, macs = features(args.checkpoint, subnets)  # loaded and encoded once for both tables
    out, keep = _split(len(y), args.holdout, args.seed)
    rows = rank_quality(x, y, macs, out, keep, args.seed)
    retest = HERE / "data" / "supernet" / f"predictor_retest_{name}.csv"
    retest_table = "" if not args.retest else (
        "\n\n**Against scores the supernet was not ranked on.** The held-out subnets scored again on "
        "the test split, in two halves ("
        f"`{retest.relative_to(HERE.parent)}`): Kendall τ of each score against minival and "
        "against the test split.\n\n| score of the held-out subnets | minival | test half A / B | "
        "test (both halves) |\n|---|---|---|---|\n"
        + "\n".join(retest_rows(args.checkpoint, [a for a, _ in subnets], x, y, macs, out, keep,
                                 args.seed, retest)))
    pooled_table = "" if not args.pooled else (
        "\n\n**Fitted on less noisy scores.** Every subnet scored on the test split as well, and its "
        "pooled score the mean of minival and the two test halves (three times minival's images). "
        "Kendall τ on the held-out subnets of the predictor (`auto`) fitted on the kept subnets' "
        "minival scores or on their pooled scores, against the held-out subnets' minival, test and "
        f"pooled scores; mean over {args.splits} held-out split(s) (seeds {args.seed} to "
        f"{args.seed + args.splits - 1}; ± the standard error).\n\n"
        "| fitted on | held-out minival | held-out test | held-out pooled |\n|---|---|---|---|\n"
        + "\n".join(pooled_rows(args.checkpoint, [a for a, _ in subnets], x, y, args.holdout,
                                 list(range(args.seed, args.seed + args.splits)), retest)))
    speed = timed_search(args.checkpoint, args.trials, args.real, args.seed)
    body = (
        f"Supernet `{args.checkpoint}`; {len(subnets)} random subnets scored with inherited weights on its "
        f"minival (kept in `{cache.relative_to(HERE.parent)}`); {args.holdout:.0%} of them held out "
        f"(seed {args.seed}). Kendall τ between predicted and supernet accuracy on the held-out subnets, "
        "for each predictor fitted on the first N of the rest; `auto` chooses by cross-validated τ.\n\n"
        f"| fitted on | {' | '.join(MODELS)} | auto | MACs alone |\n|---|---|---|---|---|---|\n" + "\n".join(rows)
        + retest_table + pooled_table
        + f"\n\nSearch: {args.trials} trials, NSGA-II, objectives accuracy (predictor) and CPU-table "
        f"latency; the first {args.real} scored by the supernet, then the predictor fitted (held-out τ "
        f"{speed['search_tau']:.3f}) and used for the other {speed['after_fit_trials']}: "
        f"{speed['after_fit_s']:.1f} s after the fit ({speed['ms_per_trial']:.1f} ms per trial, "
        f"**{speed['per_1000_s']:.0f} s per 1,000 trials**); the whole run with its report {speed['wall_s']:.0f} s."
        + (f"\n\n{args.note}" if args.note else ""))
    print(body)
    if not args.no_write:
        write_section(args.section, f"Accuracy predictor: held-out Kendall τ and search speed ({name})", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
