"""Supernet benchmarks on Fashion-MNIST: fidelity (Spearman), quality and scoring speed.

Fidelity: ``--subnets`` archs spread over the space's MACs range (smallest and largest included)
are each trained standalone from scratch ``--seeds`` times with one fixed recipe and scored on the
full 10,000-image test split; their supernet-inherited minival accuracy (``nas supernet eval``'s
number) is compared by Spearman with the standalone test accuracy (mean of the seeds), beside
the Spearman of MACs and of NASWOT, the partial correlation after log-MACs, and the seed-to-seed
Spearman of standalone training (the ceiling of any score).

Quality: inherited accuracy of the largest and smallest subnets (test split) against the same
nets trained standalone. Speed: one subnet scored (extraction, BN recalibration on 2,000 images,
5,000-image minival) against those forward passes alone, 2 threads, 32 px.

Per-run results go to ``experiments/data/supernet/*.csv``; a rerun resumes (finished standalone
runs are read back, not recomputed). Run, niced, after training the supernet::

    nas supernet train experiments/supernet_fashion_mnist.yaml --out runs/supernet_fmnist
    nice -n 5 python experiments/bench_supernet.py --checkpoint runs/supernet_fmnist --jobs 2

``--phase standalone`` runs only the standalone trainings (they need no supernet).
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nas.arch import Arch
from nas.cost import arch_cost
from nas.data import ImageData, load_dataset, split_minival
from nas.evaluators import TrainConfig, train_accuracy
from nas.space import SearchSpace, get_space

DATA_DIR = Path(__file__).resolve().parent / "data" / "supernet"
STANDALONE_COLUMNS = ("arch", "seed", "macs", "accuracy", "train_s")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--checkpoint", help="supernet folder (from `nas supernet train`)")
    ap.add_argument("--space", default="mobilenet_v3")
    ap.add_argument("--dataset", default="fashion_mnist")
    ap.add_argument("--resolution", type=int, default=28)
    ap.add_argument("--minival", type=int, default=5000, help="minival size (as the supernet's)")
    ap.add_argument("--minival-seed", type=int, default=0)
    ap.add_argument("--subnets", type=int, default=20)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--pool", type=int, default=3000, help="sampled archs the subnets are picked from")
    ap.add_argument("--select-seed", type=int, default=0)
    ap.add_argument("--standalone-recipe", default="train=6000,epochs=2,batch=128,lr=0.004,wd=0.05,"
                    "ls=0.1,warmup=0.2",
                    help="standalone recipe: train subset, epochs, batch, AdamW lr, weight decay, "
                         "label smoothing, warm-up epochs")
    ap.add_argument("--jobs", type=int, default=2, help="standalone runs in parallel (1 thread each)")
    ap.add_argument("--out", default=str(DATA_DIR / "standalone_mobilenet_v3.csv"),
                    help="per-run standalone CSV (resumed)")
    ap.add_argument("--phase", choices=("standalone", "supernet", "all"), default="all")
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
    full = load_dataset(args.dataset, resolution=args.resolution)
    train, minival = split_minival(full, args.minival, args.minival_seed)
    return train, minival


_WORKER: dict[str, Any] = {}


def _init_worker(args: argparse.Namespace, n_train: int) -> None:
    torch.set_num_threads(1)
    train, _ = load_data(args)
    _WORKER["data"] = train.subset(n_train, None, np.random.default_rng([args.select_seed, 3]))
    _WORKER["space"] = get_space(args.space).with_resolutions([args.resolution])


def _standalone(arch_text: str, seed: int, recipe: dict[str, float]) -> tuple[str, int, float, float]:
    cfg = TrainConfig(epochs=int(recipe["epochs"]), batch_size=int(recipe["batch"]), optimizer="adamw",
                      lr=recipe["lr"], lr_schedule="cosine", warmup_epochs=recipe.get("warmup", 0.0),
                      weight_decay=recipe.get("wd", 0.0), label_smoothing=recipe.get("ls", 0.0),
                      bn_batches=8, seed=seed, threads=1)
    t0 = time.perf_counter()
    result = train_accuracy(cfg, Arch.parse(arch_text), _WORKER["space"], _WORKER["data"])
    return arch_text, seed, float(result.accuracy or 0.0), time.perf_counter() - t0


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open() as fh:
        return list(csv.DictReader(fh))


def run_standalone(args: argparse.Namespace, archs: list[Arch], space: SearchSpace) -> list[dict[str, str]]:
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = read_csv(out)
    done = {(r["arch"], int(r["seed"])) for r in rows}
    recipe = parse_recipe(args.standalone_recipe)
    order = np.random.default_rng([args.select_seed, 5]).permutation(len(archs))
    todo = [(archs[i].text, s) for s in range(args.seeds) for i in order
            if (archs[i].text, s) not in done]
    print(f"standalone: {len(done)} runs done, {len(todo)} to go", flush=True)
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
                   "train_s": f"{secs:.1f}"}
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


def supernet_phase(args: argparse.Namespace, archs: list[Arch], space: SearchSpace,
                   rows: list[dict[str, str]]) -> None:
    raise SystemExit("supernet phase: not written yet")


def main() -> None:
    args = parse_args()
    torch.set_num_threads(2)
    space = get_space(args.space).with_resolutions([args.resolution])
    archs = select_subnets(space, args.subnets, args.pool, args.select_seed, 10, 1)
    if args.phase in ("standalone", "all"):
        run_standalone(args, archs, space)
    if args.phase in ("supernet", "all"):
        if not args.checkpoint:
            raise SystemExit("--checkpoint DIR is needed for the supernet phase")
        supernet_phase(args, archs, space, read_csv(Path(args.out)))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
