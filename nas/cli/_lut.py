"""``nas lut list|build|calibrate|predict|validate``: latency lookup tables."""

from __future__ import annotations

import argparse
from typing import Any

from nas._errors import NasError
from nas.cli._common import (
    DASH,
    add_json_flag,
    command_group,
    emit,
    fields,
    flat_fields,
    listed,
    ms,
    pct,
    plain,
    resolve_arch,
    spread,
)
from nas.cli._common import table as print_table

# A table without its whole-network calibration sums isolated block times, which misses the
# in-network speed of each block (37% MAPE on this project's CPU tables): builds calibrate unless
# told not to.
DEFAULT_CALIBRATION_NETWORKS = 40


def add_parsers(sub: argparse._SubParsersAction) -> None:
    lut = command_group(sub, "lut", "latency lookup tables: build, predict, validate")

    p = lut.add_parser("list", help="list the tables found ($HWNAS_TABLE_PATH, latency_tables/)")
    add_json_flag(p)
    p.set_defaults(func=cmd_list)

    p = lut.add_parser("build", help="measure every block key of a space on this device")
    p.add_argument("--space", required=True, help="space name or YAML file")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--backend", default="torch", choices=("torch", "onnxruntime"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--dtype", default="float32", choices=("float32", "float16"))
    p.add_argument("--resolution", type=int, nargs="+", help="input sides (default: the space's)")
    p.add_argument("--width", type=float, nargs="+", help="width multipliers (default: all)")
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--in-channels", type=int, default=3)
    p.add_argument("--out", required=True, help="table file (extended when it exists)")
    p.add_argument("--limit", type=int, help="measure at most this many new keys, then stop")
    p.add_argument("--attempts", type=int, default=1,
                   help="measure again (up to this many builds in all, keeping the steadiest) "
                        "when the machine's speed drifted during the build")
    p.add_argument("--max-drift", type=float, metavar="PCT",
                   help="with --attempts: the anchor spread (%%) above which a build is "
                        "measured again (default 20)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    p.add_argument("--round-ms", type=float, default=15.0, help="target ms per key per round")
    p.add_argument("--statistic", default="median", choices=("median", "min"))
    p.add_argument("--timer", default="auto", choices=("auto", "wall", "thread_cpu"),
                   help="auto: thread CPU time for 1-thread CPU tables (immune to other "
                        "processes' time slices), wall clock otherwise")
    p.add_argument("--calibrate", type=int, metavar="N", default=DEFAULT_CALIBRATION_NETWORKS,
                   help="then measure N networks per config end-to-end and fit the whole-network "
                        f"calibration (default {DEFAULT_CALIBRATION_NETWORKS}; 0: skip it, leaving "
                        "a table that sums block times and is far off on whole networks)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    add_json_flag(p)
    p.set_defaults(func=cmd_build)

    p = lut.add_parser("calibrate", help="fit the table's calibration on whole networks")
    p.add_argument("table", help="table id or JSON file")
    p.add_argument("--n", type=int, default=30, help="networks per table config")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write here instead of over the table")
    p.add_argument("--refit", action="store_true",
                   help="refit on the networks the calibration already measured (no measuring)")
    p.add_argument("--add", action="store_true",
                   help="keep the networks already measured, add N new ones per config and "
                        "refit on all")
    p.add_argument("--resolution", type=int, nargs="+", metavar="R",
                   help="measure networks only for the table's configs at these resolutions")
    p.add_argument("--add-runs", nargs="+", metavar="CSV",
                   help="measure nothing: add the networks these validation CSVs (`nas lut "
                        "validate --out DIR`) measured, combined over the runs, and refit")
    p.add_argument("--measured-with", metavar="TABLE",
                   help="with --add-runs: the table the runs validated, for CSVs that do not "
                        "record their anchor")
    p.add_argument("--key-scales", choices=("auto", "off"), default="auto",
                   help="auto: fit per-key in-network scales at each resolution where "
                        "cross-validation on the calibration networks says they help")
    _add_network_timing(p)
    p.add_argument("--statistic", choices=("median", "min"),
                   help="switch the statistic predictions use (entries keep both)")
    p.add_argument("--no-progress", action="store_true")
    add_json_flag(p)
    p.set_defaults(func=cmd_calibrate)

    p = lut.add_parser("predict", help="predicted latency of one arch, with per-block breakdown")
    p.add_argument("table", help="table id or JSON file")
    p.add_argument("arch", help="reference name, canonical arch text, or arch JSON file")
    p.add_argument("--resolution", type=int, help="input resolution (overrides the arch's)")
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--in-channels", type=int, default=3)
    p.add_argument("--exact", action="store_true",
                   help="measured keys only: fail on a key the table lacks instead of pricing it "
                        "with the table's kernel model")
    p.add_argument("--approximate", action="store_true",
                   help="(the default now; kept for scripts) price keys the table lacks with its "
                        "kernel model, listed as modelled")
    add_json_flag(p)
    p.set_defaults(func=cmd_predict)

    p = lut.add_parser("validate", help="measure held-out networks here and score the table")
    p.add_argument("table", help="table id or JSON file")
    p.add_argument("--n", type=int, default=50, help="networks per table config")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", help="folder for the CSV and the scatter PNG")
    p.add_argument("--approximate", action="store_true",
                   help="price keys the table lacks with its kernel model (listed as modelled)")
    p.add_argument("--timer", choices=("auto", "wall", "thread_cpu"),
                   help="clock for the networks (default: the table's)")
    _add_network_timing(p)
    p.add_argument("--from-csv", nargs="+", metavar="CSV",
                   help="no measuring: score on the networks earlier runs measured (their "
                        "validate_<table>.csv), several runs combined per network")
    p.add_argument("--measured-with", metavar="TABLE",
                   help="with --from-csv: the table those runs validated, when it is not TABLE "
                        "(e.g. before a rebuild) and the CSVs predate the anchor_ms_at_build "
                        "column; their timings are rescaled to TABLE's anchor speed")
    p.add_argument("--weigh-runs", choices=("equal", "precision"),
                   help="with --from-csv: combine the runs with equal weights (the default) or "
                        "each weighted by the inverse of its noise variance (how far it strays "
                        "from the other runs; needs 3 or more runs)")
    p.add_argument("--no-progress", action="store_true")
    add_json_flag(p)
    p.set_defaults(func=cmd_validate)


def _add_network_timing(p: argparse.ArgumentParser) -> None:
    """``--passes`` and ``--rounds``: how `calibrate` and `validate` time whole networks."""
    p.add_argument("--passes", type=int, default=1,
                   help="measure each network in this many independent passes (fresh instances, "
                        "new order) and use the median: less noise, N times the time")
    p.add_argument("--rounds", type=int,
                   help="timing rounds per network (default 20): on a shared or noisy machine "
                        "more rounds find each network's fastest time more reliably")


def cmd_list(args: argparse.Namespace) -> int:
    from nas.latency import kernel_coverage, load_table, resolve_tables

    rows = []
    loaded = {}
    for tid, (host, hosts) in resolve_tables().items():
        where = {"host": host, "hosts": sorted(hosts)}
        try:
            loaded[tid] = load_table(hosts[host])
            # what it measured (spaces, resolutions, entries) and, apart, what its kernel model
            # prices: a table claims only the spaces it can price
            rows.append({**loaded[tid].summary(), **where,
                         "kernel_model": loaded[tid].kernel_summary(),
                         "priced": kernel_coverage(loaded[tid])})
        except NasError as exc:  # list the others; this one is shown with its error
            rows.append({"id": tid, "path": str(hosts[host]), **where, "error": str(exc)})
    emit(args, rows, lambda: _print_list(rows, loaded))
    return 0


def _print_list(rows: list[dict[str, Any]], loaded: dict[str, Any]) -> None:
    from nas.cli._coverage import coverage, validation_score
    from nas.latency import coverage_text

    cache: dict[tuple[Any, ...], set[str]] = {}
    body, errors = [], []
    for r in rows:
        if "error" in r:
            errors.append(r)
            body.append([r["id"], "ERROR (below)", DASH, DASH, DASH, DASH, DASH, DASH, DASH, DASH,
                         r["host"]])
            continue
        t = loaded[r["id"]]
        measured, total, problem = coverage(t, cache)
        cov = (f"{measured}/{total} {pct(measured / total, 0)}" if total else DASH) if not problem \
            else "?"
        widths = sorted({float(w) for c in t.configs for w in c.get("widths") or []})
        device = r["device"] if r["device_type"] in (None, "", "cpu") or r["device_type"] in r["device"] \
            else f"{r['device']} ({r['device_type']})"
        km = r.get("kernel_model") or {}
        held = (f"WAPE {km['held_out_wape_pct']:.1f}%, MAPE {km['held_out_mape_pct']:.1f}% "
                f"({km['family']}, {km['held_out_n']} keys)"
                if km.get("held_out_wape_pct") is not None and km.get("held_out_mape_pct")
                is not None else DASH)
        body.append([r["id"], device, f"{r['runtime']} b{r['batch']}", listed(r["spaces"]),
                     listed(f"{w:g}" for w in widths), spread(r["resolutions"]), cov,
                     coverage_text(r.get("priced") or {}), held,
                     validation_score(t) or DASH, r["host"]])
    print_table(["table", "device", "runtime", "measured spaces", "widths", "resolutions",
                 "keys measured", "modelled (kernel model prices every arch of)",
                 "kernel model held-out error", "validation", "host"], body)
    for r in errors:
        print(f"\n{r['id']}: {r['error']}")


def cmd_build(args: argparse.Namespace) -> int:
    from nas.latency import DRIFT_WARN_PCT, Settings, build_steadiest, calibrate_and_write, read_table
    from nas.space import get_space

    settings = Settings(device=args.device, backend=args.backend, threads=args.threads,
                        batch=args.batch, dtype=args.dtype, rounds=args.rounds,
                        round_ms=args.round_ms, statistic=args.statistic, timer=args.timer)
    if args.classes < 1 or args.in_channels < 1:
        raise NasError("--classes and --in-channels must be >= 1")
    if args.calibrate < 0:
        raise NasError(f"--calibrate: {args.calibrate} networks; give N >= 1, or 0 to skip the calibration")
    report = build_steadiest(get_space(args.space), settings, args.out,
                             attempts=args.attempts,
                             max_drift=DRIFT_WARN_PCT if args.max_drift is None else args.max_drift,
                             resolutions=args.resolution, widths=args.width,
                             classes=args.classes, in_channels=args.in_channels,
                             limit=args.limit, seed=args.seed, progress=not args.no_progress)
    out = dict(report.__dict__)
    if args.calibrate and report.remaining == 0:
        table = read_table(args.out)  # its own copy: calibrating changes it
        calibrate_and_write(table, args.out, n=args.calibrate, seed=args.seed,
                            progress=not args.no_progress)
        out["calibrated_networks"] = len(table.calibration.samples) if table.calibration else 0
    emit(args, out, lambda: flat_fields(out))
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from nas.latency import calibrate_and_write, find_table, read_table, refit_calibration

    table = read_table(find_table(args.table))  # its own copy, not the shared cached one
    if args.statistic:
        table.set_statistic(args.statistic)
    target = args.out or table.path or f"{table.id}.json"
    key_scales = args.key_scales == "auto"
    if args.refit and (args.add or args.resolution):
        raise NasError("--refit measures nothing; --add and --resolution need measuring")
    added: dict[str, object] = {}
    if args.add_runs and (args.refit or args.add or args.resolution):
        raise NasError("--add-runs measures nothing and adds the runs' networks; it does not "
                       "combine with --refit, --add or --resolution")
    if args.measured_with and not args.add_runs:
        raise NasError("--measured-with names the table that validation runs measured; it "
                       "needs --add-runs")
    if args.add_runs:
        from nas.latency import calibrate_from_runs, load_table

        measured_with = load_table(args.measured_with) if args.measured_with else None
        cal, added = calibrate_from_runs(table, args.add_runs, key_scales=key_scales,
                                         measured_with=measured_with)
        path = table.write(target)
    elif args.refit:
        cal = refit_calibration(table, key_scales=key_scales)
        path = table.write(target)
    else:
        cal, path = calibrate_and_write(table, target, n=args.n, seed=args.seed,
                                        progress=not args.no_progress, passes=args.passes,
                                        timing=_rounds(args), add=args.add,
                                        resolutions=args.resolution, key_scales=key_scales)
    out = {"table": table.id, "path": str(path), "content_hash": table.content_hash,
           "networks": len(cal.samples), "seconds": cal.meta.get("seconds"),
           **({"from_runs": added} if added else {}),
           "groups": {g: [round(float(v), 6) for v in c] for g, c in cal.groups.items()},
           "key_scales": {g: {"keys": len(cal.scales_for(int(g))), **choice}
                          for g, choice in cal.meta.get("key_scales", {}).items()}}
    emit(args, out, lambda: _print_calibration(out))
    return 0


def _print_calibration(out: dict[str, Any]) -> None:
    from nas.latency import FEATURES

    fields([("table", out["table"]), ("file", out["path"]), ("content hash", out["content_hash"]),
            ("networks", out["networks"]),
            ("time", f"{out['seconds']:.0f} s" if isinstance(out["seconds"], int | float) else None)])
    if out.get("from_runs"):
        flat_fields(out["from_runs"], prefix="from runs.")
    groups = out["groups"]
    print()
    print_table(["coefficient", *(f"r{g}" if g.isdigit() else g for g in groups)],
                [[name, *(f"{c[i]:.4g}" for c in groups.values())] for i, name in enumerate(FEATURES)],
                title="Whole-network calibration: latency = sum of coefficient x feature, per resolution "
                      "(ms:KIND: summed block ms; n:KIND: block counts; mb:*: megabytes; const: ms)")
    if out["key_scales"]:
        print()
        keys = sorted({k for v in out["key_scales"].values() for k in v})
        print_table(["resolution", *keys],
                    [[g, *(plain(v.get(k)) for k in keys)] for g, v in out["key_scales"].items()],
                    title="Per-key in-network scales")


def _measured_modelled(pred: Any, table: Any) -> str:
    """``N measured, M modelled (kernel model FAMILY, held-out MAPE x%)``."""
    modelled = set(pred.modelled)
    n_mod = sum(1 for k, _ in pred.blocks if k in modelled)
    text = f"{len(pred.blocks) - n_mod} measured, {n_mod} modelled"
    info = table.kernel_summary() if n_mod else None
    if info:
        mape = info.get("held_out_mape_pct")
        text += (f" by the kernel model ({info['family']}"
                 + (f", held-out MAPE {mape:.1f}% on measured keys" if mape is not None else "")
                 + ")")
    return text


def cmd_predict(args: argparse.Namespace) -> int:
    from nas.latency import load_table

    table = load_table(args.table)
    arch, _ = resolve_arch(args.arch, None, args.resolution)
    if args.exact and args.approximate:
        raise NasError("nas lut predict: --exact and --approximate contradict each other; "
                       "pass one")
    pred = table.predict(arch, classes=args.classes, in_channels=args.in_channels,
                         approximate=not args.exact)
    out = {"table": table.id, "content_hash": table.content_hash, "arch": arch.text,
           "classes": args.classes, "in_channels": args.in_channels,
           "batch": table.batch, **pred.to_dict()}

    def human() -> None:
        fields([("table", f"{table.id} ({table.device.get('name', 'unknown')}, {table.backend}, "
                          f"batch {table.batch})"),
                ("arch", arch.text),
                ("input", f"{args.in_channels}x{arch.resolution}x{arch.resolution}, "
                          f"{args.classes} classes"),
                ("latency", f"{ms(pred.latency_ms)}" + ("" if pred.calibrated else
                                                          " (uncalibrated: the sum of block times)")),
                ("sum of blocks", ms(pred.raw_sum_ms)),
                ("overhead", ms(pred.overhead_ms) if pred.overhead_ms else None),
                ("blocks", _measured_modelled(pred, table))])
        print()
        approx = set(pred.modelled)
        print_table(["#", "block", "ms", "share"],
                    [[i, k + (" (modelled)" if k in approx else ""), f"{v:.4f}",
                      pct(v / pred.raw_sum_ms) if pred.raw_sum_ms else None]
                     for i, (k, v) in enumerate(pred.blocks)])

    emit(args, out, human)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from nas.latency import load_table, validate_table

    table = load_table(args.table)
    if args.from_csv:
        from nas.latency import score_runs

        measured_with = load_table(args.measured_with) if args.measured_with else None
        scored = score_runs(table, args.from_csv, out_dir=args.out,
                            approximate=args.approximate, measured_with=measured_with,
                            weighting=args.weigh_runs or "equal")
        emit(args, scored, lambda: _print_validation(scored))
        return 0
    for given, name in ((args.measured_with, "--measured-with"), (args.weigh_runs, "--weigh-runs")):
        if given:
            raise NasError(f"{name} only applies with --from-csv (scoring earlier runs)")
    result = validate_table(table, n=args.n, seed=args.seed, out_dir=args.out,
                            approximate=args.approximate, timer=args.timer,
                            progress=not args.no_progress, passes=args.passes,
                            timing=_rounds(args))
    emit(args, result, lambda: _print_validation(result))
    return 0


_SCORE_KEYS = ("n", "mape", "within_10pct", "kendall_tau", "rmse_ms", "bias_pct", "max_abs_pct")


def _print_validation(result: dict[str, Any]) -> None:
    """Every field but the scores, then the scores as one table (a row per predictor and
    resolution: the table, the naive sum, the FLOPs baseline, raw timings)."""
    rows: list[list[Any]] = []
    other: dict[str, Any] = {}

    def walk(d: dict[str, Any], path: str) -> None:
        if "mape" in d and "n" in d:
            rows.append([path or "table", d.get("n"), pct(d.get("within_10pct")),
                         _fmt(d.get("kendall_tau"), ".3f"), _fmt(d.get("mape"), ".1f", "%"),
                         _fmt(d.get("bias_pct"), "+.1f", "%"), _fmt(d.get("max_abs_pct"), ".1f", "%"),
                         ms(d.get("rmse_ms"), 4)])
        for k, v in d.items():
            if isinstance(v, dict):
                walk(v, f"{path}.{k}" if path else k)
            elif not path and k not in _SCORE_KEYS:
                other[k] = v

    walk(result, "")
    flat_fields(other)
    if rows:
        print()
        print_table(["predictor", "networks", "within ±10%", "Kendall τ", "MAPE", "bias",
                     "max |error|", "RMSE"], rows)


def _fmt(x: Any, spec: str, unit: str = "") -> str | None:
    return f"{x:{spec}}{unit}" if isinstance(x, int | float) and not isinstance(x, bool) else None


def _rounds(args: argparse.Namespace) -> dict[str, int] | None:
    """``--rounds`` as a timing override for whole networks (None: the default)."""
    if args.rounds is None:
        return None
    if args.rounds < 1:
        raise NasError(f"--rounds must be >= 1, got {args.rounds}")
    return {"rounds": args.rounds}
