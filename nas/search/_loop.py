"""The search loop: ask, evaluate through an executor, tell, until the budget is spent.

One loop serves every executor. It asks while the executor has free slots, so every trial being
evaluated stays RUNNING in the storage, which is what Optuna's samplers look at for pending trials
(TPE's constant liar, NSGA-II's generation bookkeeping). The budget counts finished trials plus
those outstanding, so ``n_trials`` is not overshot. A candidate whose arch is already being
evaluated shares that result (user attr ``cached_from``) instead of running twice. On an exception
or interrupt, outstanding trials are recorded ``interrupted`` with their params queued (a resume
re-runs them) before it propagates.
"""

from __future__ import annotations

import logging
import sys
import time

from tqdm import tqdm

from nas._errors import NasError
from nas.search import _attrs as A
from nas.search._driver import Candidate, SearchDriver
from nas.search._executor import Evaluator, Executor, InProcessExecutor, Outcome
from nas.search._samplers import batch_room

_log = logging.getLogger("nas.search")


def _eta(started: float, ran: int, total: int | None, done: int) -> str:
    if not total or ran <= 0:
        return "?"
    left = max(0.0, (time.monotonic() - started) / ran * (total - done))
    return f"{int(left // 60)}:{int(left % 60):02d}"


def describe(cand: Candidate, driver: SearchDriver) -> str:
    """One line for ``search.log``: the trial, its state, arch, scores and time."""
    t = cand.frozen or driver.study._storage.get_trial(cand.trial._trial_id)
    parts = [f"trial {t.number} {t.state.name}"]
    if t.user_attrs.get(A.FEASIBLE) is False:  # COMPLETE for the sampler, but never trained
        broken = [str(c) for c, v in zip(driver.problem.config.constraints, cand.constraints, strict=False) if v > 0]
        parts.append(f"infeasible ({', '.join(broken)} broken; not trained)")
    parts.append(f"arch={cand.arch.text}")
    for name in driver.problem.config.objective_names:
        if name in t.user_attrs:
            parts.append(f"{name}={t.user_attrs[name]:.6g}")
    for key in ("cached_from", "stopped_at_epoch", "fail_reason"):
        if key in t.user_attrs:
            parts.append(f"{key}={t.user_attrs[key]}")
    parts.append(f"{time.perf_counter() - cand.started:.2f}s")
    return " ".join(parts)


def search_loop(driver: SearchDriver, evaluator: Evaluator | None, executor: Executor | None = None, *,
                progress: bool | str = True) -> int:
    """Ask/evaluate/tell until the budget is spent; returns the number of trials asked here.

    ``progress``: ``True`` or ``"bar"`` a progress bar; ``"lines"`` one line per trial on stderr
    (for logs and schedulers, where a bar would be one unreadable line); ``False`` nothing.
    """
    lines = progress == "lines"
    progress = bool(progress) and not lines
    executor = executor or InProcessExecutor()
    cfg = driver.problem.config
    if cfg.needs_accuracy and evaluator is None:
        raise NasError("evaluator: the config needs accuracy but no evaluator is set")
    deadline = time.monotonic() + cfg.timeout_s if cfg.timeout_s else None
    total = cfg.n_trials
    pending: dict[int, Candidate] = {}  # submitted, by trial number
    evaluating: dict[str, int] = {}  # arch hash -> number of the trial evaluating it
    sharing: dict[int, list[Candidate]] = {}  # that trial's number -> candidates waiting for it
    asked = 0
    done = driver.counted_trials()
    bar = tqdm(total=total, initial=min(done, total or done), disable=not progress, unit="trial",
               dynamic_ncols=True, desc=cfg.name)

    def outstanding() -> int:
        return len(pending) + sum(len(s) for s in sharing.values())

    started = time.monotonic()
    first_done = done

    def show(cand: Candidate, count: int | None = None) -> None:
        """``count``: trials done when ``cand`` was told (default: now; a batch is told at once)."""
        nonlocal done
        done = driver.counted_trials() if count is None else count
        line = describe(cand, driver)
        _log.info(line)
        if lines:
            print(f"{line} [{done}/{total if total else '?'}, ETA {_eta(started, done - first_done, total, done)}]",
                  file=sys.stderr, flush=True)
        if progress:
            bar.n = min(done, total) if total else done
            bar.set_postfix(driver.summary(), refresh=False)
            bar.refresh()

    def budget_left() -> bool:
        if deadline is not None and time.monotonic() >= deadline:
            return False
        return total is None or done + outstanding() < total

    def batch() -> int:
        # Trials that need training are asked one at a time (each waits for a slot); those that
        # need only cheap scores in batches the sampler allows, up to the budget.
        if cfg.needs_accuracy:
            return 1
        room = batch_room(cfg.sampler, done)
        return room if total is None else max(1, min(room, total - done - outstanding()))

    def record(cand: Candidate, outcome: Outcome) -> None:
        for key, value in outcome.attrs.items():
            cand.trial.set_user_attr(key, value)
        if outcome.result is not None:
            driver.tell(cand, outcome.result)
        else:
            driver.fail(cand, outcome.error or "evaluation returned nothing")
        show(cand)

    try:
        while True:
            # Slots count trials, not evaluations, so shared candidates cannot make this ask forever.
            while outstanding() < executor.slots and budget_left():
                cands = driver.ask_many(batch())
                count = driver.counted_trials() - sum(not c.needs_eval for c in cands)
                for cand in cands:
                    asked += 1
                    if not cand.needs_eval:  # broke a constraint, was cached, or needs no accuracy: told
                        count += 1
                        show(cand, count)
                        continue
                    leader = evaluating.get(cand.arch.hash)
                    if leader is not None:
                        sharing[leader].append(cand)
                        continue
                    evaluating[cand.arch.hash] = cand.number
                    pending[cand.number] = cand
                    sharing[cand.number] = []
                    executor.submit(cand.number, evaluator, cand.arch.text, driver.reporter(cand))  # type: ignore[arg-type]
            if not pending:
                return asked
            for outcome in executor.wait():
                cand = pending.pop(outcome.key)
                del evaluating[cand.arch.hash]
                record(cand, outcome)
                for follower in sharing.pop(outcome.key):
                    follower.trial.set_user_attr(A.CACHED_FROM, cand.number)
                    record(follower, outcome)
                if outcome.stop is not None:
                    raise outcome.stop
    except BaseException:
        executor.cancel()
        waiting = [*pending.values(), *(c for s in sharing.values() for c in s)]
        for cand in waiting:
            if cand.told:
                continue
            try:
                driver.interrupt(cand)
            except Exception as exc:  # keep the original error; the resume recovers this trial
                _log.error("trial %d: could not record it as interrupted: %s", cand.number, exc)
        raise
    finally:
        bar.close()
