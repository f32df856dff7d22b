"""Supernet benchmarks on Fashion-MNIST: fidelity (Spearman), quality and scoring speed.

Fidelity: ``--subnets`` archs spread over the space's MACs range (smallest and largest included)
are each trained standalone from scratch ``--seeds`` times with one fixed recipe and scored on the
full 10,000-image test split; their supernet-inherited minival accuracy (``nas supernet eval``'s
number) is compared by Spearman with the standalone test accuracy (mean of the seeds), beside
the Spearman of MACs and of NASWOT, the partial correlation after log-MACs, and the seed-to-seed
Spearman of standalone training (the ceiling of any score), plain and after log-MACs.

Quality: inherited accuracy of the largest and smallest subnets (test split) against the same
nets trained standalone, with the fidelity recipe and with ``--quality-recipe`` (by default the
supernet's own data budget: as many images and epochs as the supernet trained each subnet on).
``--test-scores`` also scores each subnet's inherited weights on the test split: a diagnostic
that says whether minival's noise or the supernet itself limits the ranking.
Speed: one subnet scored (extraction, BN recalibration on 2,000 images, 5,000-image minival)
against those forward passes alone, 2 threads, 32 px.

Per-run results go to ``experiments/data/supernet/*.csv``; a rerun resumes (finished standalone
runs are read back, not recomputed). Run, niced, after training the supernet::

    nas supernet train experiments/supernet_fashion_mnist.yaml --out runs/supernet_fmnist
    nice -n 5 python experiments/bench_supernet.py --checkpoint runs/supernet_fmnist --jobs 2

``--phase standalone`` runs only the standalone trainings (they need no supernet).
"""

from __future__ import annotations

import argparse
import csv
import functools
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import cached_rows, read_csv, write_section

from nas.arch import Arch
from nas.cost import arch_cost
from nas.data import ImageData, load_dataset, resize, split_minival
from nas.evaluators import TrainConfig, train_accuracy
from nas.space import SearchSpace, get_space

DATA_DIR = Path(__file__).resolve().parent / "data" / "supernet"
STANDALONE_COLUMNS = ("arch", "seed", "macs", "accuracy", "train_s", "recipe")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--checkpoint", help="supernet folder (from `nas supernet train`)")
    ap.add_argument("--space", default="mobilenet_v3")
    ap.add_argument("--dataset", default="fashion_mnist")
    ap.add_argument("--resolutions", type=int, nargs="+", default=[28],
                    help="input resolutions the subnets are drawn from (the supernet's)")
    ap.add_argument("--config", default="experiments/supernet_fashion_mnist.yaml",
                    help="the supernet's recipe file (named in the report)")
    ap.add_argument("--section", default="supernet", help="RESULTS.md section to write")
    ap.add_argument("--minival", type=int, default=5000, help="minival size (as the supernet's)")
    ap.add_argument("--minival-seed", type=int, default=0)
    ap.add_argument("--subnets", type=int, default=20)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--pool", type=int, default=3000, help="sampled archs the subnets are picked from")
    ap.add_argument("--select-seed", type=int, default=0)
    ap.add_argument("--standalone-recipe", default="train=12000,epochs=3,batch=128,lr=0.004,wd=0.05,"
                    "ls=0.1,warmup=0.3",
                    help="standalone recipe: train subset, epochs, batch, AdamW lr, weight decay, "
                         "label smoothing, warm-up epochs")
    ap.add_argument("--quality-recipe", default="train=20000,epochs=10,batch=128,lr=0.004,wd=0.05,"
                    "ls=0.1,warmup=0.25",
                    help="second standalone recipe for the largest and smallest subnets only (the "
                         "quality figure; '' skips them); default: the benchmark supernet's images "
                         "and epochs")
    ap.add_argument("--jobs", type=int, default=2, help="standalone runs in parallel (1 thread each)")
    ap.add_argument("--out", default=str(DATA_DIR / "standalone_mobilenet_v3.csv"),
                    help="per-run standalone CSV (resumed)")
    ap.add_argument("--scores", help="per-subnet supernet scores CSV, resumed (default: "
                    "experiments/data/supernet/supernet_scores_<checkpoint folder name>.csv)")
    ap.add_argument("--phase", choices=("standalone", "supernet", "all"), default="all")
    ap.add_argument("--speed-threads", type=int, default=2, help="torch threads for the speed figure")
    ap.add_argument("--speed-subnets", type=int, default=3, choices=(1, 3),
                    help="time the median subnet, or the smallest, median and largest")
    ap.add_argument("--speed-repeats", type=int, default=2, help="timings per subnet (best kept)")
    ap.add_argument("--fresh", action="store_true",
                    help="re-measure quality and speed even if the summary JSON has them")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for scoring subnets")
    ap.add_argument("--test-scores", action="store_true",
                    help="also score every subnet's inherited weights on the test split (cached in "
                         "supernet_test_scores_<name>.csv): a diagnostic of how much minival's noise "
                         "costs the ranking")
    ap.add_argument("--note", default="", help="a paragraph appended to the RESULTS.md section")
    ap.add_argument("--no-results", action="store_true", help="do not write RESULTS.md")
    return ap.parse_args()


def parse_recipe(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        out[key.strip()] = float(value)
    return out


def select_subnets(space: SearchSpace, n: int, pool: int, seed: int, classes: int,
                   in_channels: int) -> list[Arch]:
    """``n`` distinct archs at evenly spaced MACs quantiles of a seeded pool, extremes included."""
    from nas.supernet import extreme_arch

    rng = np.random.default_rng(seed)
    archs = {a.text: a for a in (space.sample(rng) for _ in range(pool))}
    for largest in (True, False):
        a = extreme_arch(space, largest)
        archs[a.text] = a
    ranked = sorted(archs.values(), key=lambda a: arch_cost(a, space, classes=classes,
                                                            in_channels=in_channels).macs)
    picked: list[Arch] = []
    for q in np.linspace(0, 1, n):
        i = round(float(q) * (len(ranked) - 1))
        while ranked[i] in picked:
            i = min(i + 1, len(ranked) - 1)
        picked.append(ranked[i])
    return picked


def load_data(args: argparse.Namespace) -> tuple[ImageData, ImageData]:
    """(standalone training data with the full test split, minival)."""
    full = load_dataset(args.dataset, resolution=max(args.resolutions))
    train, minival = split_minival(full, args.minival, args.minival_seed)
    return train, minival


_WORKER: dict[str, Any] = {}


def _init_worker(args: argparse.Namespace, n_train: int) -> None:
    torch.set_num_threads(1)
    train, _ = load_data(args)
    _WORKER["data"] = train.subset(n_train, None, np.random.default_rng([args.select_seed, 3]))
    _WORKER["space"] = get_space(args.space).with_resolutions(args.resolutions)


def _data_at(resolution: int) -> ImageData:
    """The worker's standalone data at ``resolution`` (resized once, as the loader resizes)."""
    key = f"data@{resolution}"
    if key not in _WORKER:
        d: ImageData = _WORKER["data"]
        _WORKER[key] = replace(d, x_train=resize(d.x_train, resolution), x_test=resize(d.x_test, resolution))
    out: ImageData = _WORKER[key]
    return out


def _standalone(arch_text: str, seed: int, recipe: dict[str, float]) -> tuple[str, int, float, float]:
    cfg = TrainConfig(epochs=int(recipe["epochs"]), batch_size=int(recipe["batch"]), optimizer="adamw",
                      lr=recipe["lr"], lr_schedule="cosine", warmup_epochs=recipe.get("warmup", 0.0),
                      weight_decay=recipe.get("wd", 0.0), label_smoothing=recipe.get("ls", 0.0),
                      bn_batches=8, seed=seed, threads=1)
    t0 = time.perf_counter()
    arch = Arch.parse(arch_text)
    result = train_accuracy(cfg, arch, _WORKER["space"], _data_at(arch.resolution))
    return arch_text, seed, float(result.accuracy or 0.0), time.perf_counter() - t0


def standalone_rows(path: Path, recipe: str) -> list[dict[str, str]]:
    """The runs in ``path`` trained with ``recipe`` (the CSV keeps every recipe's runs)."""
    return [r for r in read_csv(path) if r["recipe"] == recipe]


def run_standalone(args: argparse.Namespace, archs: list[Arch], space: SearchSpace,
                   recipe_text: str) -> list[dict[str, str]]:
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = standalone_rows(out, recipe_text)
    done = {(r["arch"], int(r["seed"])) for r in rows}
    recipe = parse_recipe(recipe_text)
    order = np.random.default_rng([args.select_seed, 5]).permutation(len(archs))
    todo = [(archs[i].text, s) for s in range(args.seeds) for i in order
            if (archs[i].text, s) not in done]
    print(f"standalone `{recipe_text}`: {len(done)} runs done, {len(todo)} to go", flush=True)
    if not todo:
        return rows
    new = not out.is_file()
    with out.open("a", newline="") as fh, ProcessPoolExecutor(
            max_workers=args.jobs, initializer=_init_worker,
            initargs=(args, int(recipe["train"]))) as pool:
        writer = csv.DictWriter(fh, fieldnames=STANDALONE_COLUMNS)
        if new:
            writer.writeheader()
        futures = [pool.submit(_standalone, a, s, recipe) for a, s in todo]
        for k, fut in enumerate(as_completed(futures), 1):
            arch_text, seed, acc, secs = fut.result()
            macs = arch_cost(Arch.parse(arch_text), space, classes=10, in_channels=1).macs
            row = {"arch": arch_text, "seed": seed, "macs": macs, "accuracy": f"{acc:.4f}",
                   "train_s": f"{secs:.1f}", "recipe": recipe_text}
            writer.writerow(row)
            fh.flush()
            rows.append({k2: str(v) for k2, v in row.items()})
            print(f"[{k}/{len(todo)}] seed {seed} acc {acc:.4f} {secs:.0f}s MACs {macs / 1e6:.2f}M",
                  flush=True)
    return rows


# -- statistics ------------------------------------------------------------------------------
def ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x))
    r[order] = np.arange(len(x))
    for v in np.unique(x):  # average ties
        idx = x == v
        r[idx] = r[idx].mean()
    return r


def spearman(a: Any, b: Any) -> float:
    ra, rb = ranks(np.asarray(a, float)), ranks(np.asarray(b, float))
    return float(np.corrcoef(ra, rb)[0, 1])


def partial_spearman(a: Any, b: Any, control: Any) -> float:
    """Spearman of ``a`` and ``b`` after removing the (rank-)linear effect of ``control``."""
    ra, rb, rc = (ranks(np.asarray(v, float)) for v in (a, b, control))

    def resid(y: np.ndarray) -> np.ndarray:
        coef = np.polyfit(rc, y, 1)
        return y - np.polyval(coef, rc)

    return float(np.corrcoef(resid(ra), resid(rb))[0, 1])


SCORE_COLUMNS = ("arch", "macs", "inherited_minival", "naswot", "score_s")


def naswot_score(arch: Arch, space: SearchSpace, x: torch.Tensor, y: torch.Tensor) -> float:
    from nas.evaluators import naswot
    from nas.models import build_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_model(arch, space, classes=10, in_channels=1)
    return naswot(model, x, y)


def speed(sn: Any, archs: list[Arch], calib: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
          repeats: int = 3) -> list[dict[str, float]]:
    """Per arch: seconds to score (extract + BN recalibration + evaluation) and seconds of the
    same forward passes alone (a model extracted beforehand), best of ``repeats``."""
    from nas.evaluators import recalibrate_bn
    from nas.recipe import evaluate

    cpu = torch.device("cpu")
    out = []
    for arch in archs:
        full, fwd = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            model = sn.extract(arch)
            recalibrate_bn(model, list(calib.split(500)))
            evaluate(model, x, y, 500, cpu)
            full.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            recalibrate_bn(model, list(calib.split(500)))
            evaluate(model, x, y, 500, cpu)
            fwd.append(time.perf_counter() - t0)
        out.append({"score_s": min(full), "forward_s": min(fwd)})
    return out


def seed_accuracies(rows: list[dict[str, str]]) -> dict[str, dict[int, float]]:
    """arch text -> seed -> standalone test accuracy."""
    by_seed: dict[str, dict[int, float]] = {}
    for r in rows:
        by_seed.setdefault(r["arch"], {})[int(r["seed"])] = float(r["accuracy"])
    return by_seed


def supernet_phase(args: argparse.Namespace, archs: list[Arch], space: SearchSpace,
                   rows: list[dict[str, str]], quality_rows: list[dict[str, str]]) -> None:
    from nas.supernet import SubnetScorer, build_supernet

    scorer = SubnetScorer(args.checkpoint, split="minival", threads=args.threads)
    sn = scorer.supernet
    recipe = sn.recipe
    path = Path(args.scores or DATA_DIR / f"supernet_scores_{Path(args.checkpoint).name}.csv")
    train, _ = load_data(args)
    xb, yb = train.x_train[:64], train.y_train[:64]

    def minival_row(arch: Arch) -> dict[str, Any]:
        s = scorer.score_timed(arch)
        return {"macs": arch_cost(arch, space, classes=10, in_channels=1).macs,
                "inherited_minival": f"{s.accuracy:.4f}",
                "naswot": f"{naswot_score(arch, space, resize(xb, arch.resolution), yb):.3f}",
                "score_s": f"{s.seconds:.2f}"}

    by_text = {a.text: a for a in archs}
    done = cached_rows(path, SCORE_COLUMNS, list(by_text), lambda t: minival_row(by_text[t]))

    @functools.cache
    def test_scorer() -> Any:  # loads the supernet and the test split again: only when needed
        return SubnetScorer(args.checkpoint, split="test", threads=args.threads)

    on_test = (cached_rows(path.with_name(path.name.replace("supernet_scores_", "supernet_test_scores_")),
                           ("arch", "inherited_test"), list(by_text),
                           lambda t: {"inherited_test": f"{test_scorer().score(by_text[t]):.4f}"})
               if args.test_scores else {})

    by_seed = seed_accuracies(rows)
    have = [a for a in archs if a.text in by_seed]
    standalone = np.array([np.mean(list(by_seed[a.text].values())) for a in have])
    inherited = np.array([float(done[a.text]["inherited_minival"]) for a in have])
    macs = np.array([float(done[a.text]["macs"]) for a in have])
    nw = np.array([float(done[a.text]["naswot"]) for a in have])
    both = [a for a in have if len(by_seed[a.text]) >= 2]
    s0 = [by_seed[a.text][0] for a in both]
    s1 = [by_seed[a.text][1] for a in both]
    fid = {
        "subnets": len(have), "subnets_both_seeds": len(both),
        "spearman_inherited": spearman(inherited, standalone) if len(have) > 2 else float("nan"),
        "spearman_macs": spearman(macs, standalone) if len(have) > 2 else float("nan"),
        "spearman_naswot": spearman(nw, standalone) if len(have) > 2 else float("nan"),
        "partial_inherited_after_log_macs": (partial_spearman(inherited, standalone, np.log(macs))
                                             if len(have) > 3 else float("nan")),
        "spearman_seed_to_seed": spearman(s0, s1) if len(both) > 2 else float("nan"),
        # the ceiling of the partial: how far standalone training agrees with itself beyond MACs
        "partial_seed_to_seed_after_log_macs": (
            partial_spearman(s0, s1, np.log([float(done[a.text]["macs"]) for a in both]))
            if len(both) > 3 else float("nan")),
    }
    if on_test and len(have) > 2:
        fid["spearman_inherited_test"] = spearman(
            [float(on_test[a.text]["inherited_test"]) for a in have], standalone)

    import json

    summary_path = path.with_suffix(".summary.json")
    old = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    reuse = bool(old) and old.get("checkpoint_epochs") == sn.epochs_done and not args.fresh
    # Quality: the extremes on the test split, inherited against standalone.
    inherited_test = {q["net"]: q["inherited_test"] for q in old.get("quality", [])} if reuse else {}
    quality = []
    budget_seed = seed_accuracies(quality_rows)
    for name, arch in (("largest", sn.largest), ("smallest", sn.smallest)):
        inh = inherited_test[name] if name in inherited_test else test_scorer().score(arch)
        entry: dict[str, Any] = {"net": name, "arch": arch.text, "inherited_test": inh}
        for key, table in (("standalone", by_seed), ("standalone_budget", budget_seed)):
            alone = table.get(arch.text, {})
            entry[f"{key}_test"] = float(np.mean(list(alone.values()))) if alone else None
            entry[f"{key}_seeds"] = len(alone)
        quality.append(entry)

    # Speed at 32 px, 2 threads (an untrained supernet of the same space at 32 px: the timing
    # does not depend on the weights).
    torch.set_num_threads(args.speed_threads)
    pick = [archs[0], archs[len(archs) // 2], archs[-1]][:args.speed_subnets]
    if args.speed_subnets == 1:
        pick = [archs[len(archs) // 2]]
    calib_t = scorer.calib
    mv_x, mv_y = scorer.x, scorer.y
    sp = old.get("speed", {}) if reuse else {}
    if not sp:
        sp = measure_speed(args, space, sn, pick, calib_t, mv_x, mv_y, build_supernet)
    result = {"fidelity": fid, "quality": quality, "speed": sp, "recipe": recipe.to_dict() if recipe else None,
              "standalone_recipe": args.standalone_recipe, "quality_recipe": args.quality_recipe,
              "checkpoint_epochs": sn.epochs_done}
    print(json.dumps(result, indent=1, default=str))
    summary_path.write_text(json.dumps(result, indent=1, default=str) + "\n")
    if not args.no_results:
        px = "/".join(map(str, args.resolutions))
        write_section(args.section, f"supernet: fidelity, quality and speed on Fashion-MNIST, {px} px "
                      "(`experiments/bench_supernet.py`)",
                      report(result, args, pick) + (f"\n\n{args.note}" if args.note else ""))


def measure_speed(args: argparse.Namespace, space: SearchSpace, sn: Any, pick: list[Arch],
                  calib_t: torch.Tensor, mv_x: torch.Tensor, mv_y: torch.Tensor,
                  build_supernet: Any) -> dict[str, list[dict[str, float]]]:
    sp = {}
    sn32 = build_supernet(space.name, classes=10, in_channels=1, resolutions=[32])
    a32 = [a.replace(resolution=32) for a in pick]
    sp["32"] = speed(sn32, a32, resize(calib_t, 32), resize(mv_x, 32), mv_y,
                     args.speed_repeats)
    return sp


def report(result: dict[str, Any], args: argparse.Namespace, pick: list[Arch]) -> str:
    fid, quality, sp = result["fidelity"], result["quality"], result["speed"]
    rec = result["recipe"] or {}
    lines = [
        f"Supernet: `{args.space}` on `{args.dataset}` at {'/'.join(map(str, args.resolutions))} px, "
        f"recipe `{args.config}` ({rec.get('epochs')} epochs on a "
        f"{rec.get('train_subset')}-image subset of train minus a {rec.get('minival')}-image minival; "
        f"sandwich of largest, smallest and {rec.get('random_subnets')} random subnets per step, "
        f"in-place distillation; {result['checkpoint_epochs']} epochs done). Subnets: "
        f"{args.subnets} archs at evenly spaced MACs quantiles of {args.pool} sampled ones "
        f"(smallest and largest included). Standalone recipe, from scratch, per seed: "
        f"`{args.standalone_recipe}` (AdamW, cosine, BN recalibrated), scored on the full "
        f"10,000-image test split. Per-run data: `experiments/data/supernet/`.",
        "",
        "**Fidelity (Spearman against standalone test accuracy, mean of the seeds)**",
        "",
        "| score | Spearman |",
        "| --- | --- |",
        f"| supernet-inherited minival accuracy | {fid['spearman_inherited']:.3f} |",
        *([f"| the same inherited weights on the test split (diagnostic: minival's noise) | "
           f"{fid['spearman_inherited_test']:.3f} |"] if "spearman_inherited_test" in fid else []),
        f"| MACs | {fid['spearman_macs']:.3f} |",
        f"| NASWOT | {fid['spearman_naswot']:.3f} |",
        f"| inherited accuracy, partial (after log-MACs, rank-based) | "
        f"{fid['partial_inherited_after_log_macs']:.3f} |",
        f"| standalone seed 0 against seed 1 (ceiling) | {fid['spearman_seed_to_seed']:.3f} |",
        f"| standalone seed 0 against seed 1, partial after log-MACs (ceiling of the partial) | "
        f"{fid['partial_seed_to_seed_after_log_macs']:.3f} |",
        "",
        f"Subnets with standalone results: {fid['subnets']} of {args.subnets}; with both seeds: "
        f"{fid['subnets_both_seeds']} (the seed-to-seed Spearman is over those).",
        "",
        "**Quality (test split)**: standalone with the fidelity recipe"
        + (f", and with the supernet's own data budget, `{args.quality_recipe}`" if args.quality_recipe
           else ""),
        "",
        "| net | inherited | standalone, fidelity recipe (seeds) | difference (points) |"
        + (" standalone, supernet budget (seeds) | difference (points) |" if args.quality_recipe else ""),
        "| --- | --- | --- | --- |" + (" --- | --- |" if args.quality_recipe else ""),
    ]
    for q in quality:
        cells = []
        for key in ("standalone", "standalone_budget")[:2 if args.quality_recipe else 1]:
            alone = q.get(f"{key}_test")
            if alone is None:
                cells += ["not run", "n/a"]
            else:
                cells += [f"{alone:.4f} ({q[f'{key}_seeds']})",
                          f"{100 * (q['inherited_test'] - alone):+.2f}"]
        lines.append(f"| {q['net']} | {q['inherited_test']:.4f} | " + " | ".join(cells) + " |")
    lines += ["", f"**Speed ({args.speed_threads} thread(s)): scoring one subnet (extraction, BN "
              "recalibration on 2,000 "
              "images, 5,000-image minival) against those forward passes alone, best of "
              f"{args.speed_repeats}**", "",
              "| px | subnet MACs quantile | score (s) | forward passes (s) | ratio |",
              "| --- | --- | --- | --- | --- |"]
    for px, entries in sp.items():
        names = ("smallest", "median", "largest") if len(entries) == 3 else ("median",)
        for q, e in zip(names, entries, strict=False):
            lines.append(f"| {px} | {q} | {e['score_s']:.2f} | {e['forward_s']:.2f} | "
                         f"{e['score_s'] / e['forward_s']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    space = get_space(args.space).with_resolutions(args.resolutions)
    archs = select_subnets(space, args.subnets, args.pool, args.select_seed, 10, 1)
    from nas.supernet import extreme_arch

    extremes = [extreme_arch(space, largest) for largest in (True, False)]
    if args.phase in ("standalone", "all"):
        run_standalone(args, archs, space, args.standalone_recipe)
        if args.quality_recipe:
            run_standalone(args, extremes, space, args.quality_recipe)
    if args.phase in ("supernet", "all"):
        if not args.checkpoint:
            raise SystemExit("--checkpoint DIR is needed for the supernet phase")
        supernet_phase(args, archs, space, standalone_rows(Path(args.out), args.standalone_recipe),
                       standalone_rows(Path(args.out), args.quality_recipe))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
