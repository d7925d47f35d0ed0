"""The schedule conformance check: the rate the loop will ask for, over whole runs.

The training loop calls ``schedule.lr(base_lr, epoch, total_epochs)`` at the start of
every epoch (``epoch`` an int counted from 0), or before every step with a fractional
epoch when the class sets ``per_step = True``; a resumed run asks from the epoch it
resumes at. So for runs of 1, 2, 3, 10 and 100 epochs the check asks for every epoch in
``[0, total)`` (and, for a per-step schedule, at 7 steps per epoch) and demands:

* **signature**: ``lr`` takes ``(base_lr, epoch, total_epochs)`` positionally, as the loop
  calls it, and returns a real number;
* **rates**: every rate is finite, positive and at most ``MAX_FACTOR`` times the base
  rate (a schedule that overflows, reaches zero or grows without bound fails);
* **epoch 0**: a schedule that never raises the rate over a run (constant, step decay,
  cosine) starts at exactly the base rate: one counting epochs from 1 would start
  below it (cosine's first epoch past its peak). Warm-up and one-cycle schedules, which
  rise, are exempt;
* **pure**: the rates depend on the arguments only, so a fresh schedule asked from the
  middle of a run (as after a resume) gives the rates the first one gave.

The schedule is built with its factory's ``check_options``.
"""

from __future__ import annotations

import inspect
import math
import numbers

import numpy as np

from harness import CheckResult, Subject
from harness import validation as v

TOTALS = (1, 2, 3, 10, 100)
STEPS_PER_EPOCH = 7
MAX_FACTOR = 100.0


class ScheduleContract:
    """Checks every registered schedule over whole runs of several lengths."""

    name = "schedule_contract"

    def __init__(self, base_lr: float = 0.1, max_factor: float = MAX_FACTOR):
        self.base_lr = v.positive("base_lr", base_lr)
        self.max_factor = v.number("max_factor", max_factor, low=1)

    def applies_to(self, subject: Subject) -> bool:
        return subject.kind == "schedule"

    def check(self, subject: Subject) -> list[CheckResult]:
        schedule = subject.build()
        per_step = getattr(schedule, "per_step", False) is True
        problem = _signature_problem(schedule)
        results = [self._verdict(subject, "signature", problem, "lr(base_lr, epoch, total_epochs) -> float")]
        if problem:
            return results
        runs = {total: self._rates(schedule, total, per_step) for total in TOTALS}
        results.append(self._rates_result(subject, runs, per_step))
        if results[-1].failed:  # the other aspects compare rates that are not all numbers
            return results
        results.append(self._epoch_zero(subject, runs))
        results.append(self._pure(subject, runs))
        return results

    # ----------------------------------------------------------------- measures

    def _rates(self, schedule, total: int, per_step: bool) -> list[tuple[float, object]]:
        """``[(epoch, rate)]`` as the loop asks for them over a run of ``total`` epochs."""
        return [(epoch, schedule.lr(self.base_lr, epoch, total)) for epoch in _epochs(total, per_step)]

    def _rates_result(self, subject: Subject, runs, per_step: bool) -> CheckResult:
        bound = self.max_factor * self.base_lr
        for total, rates in runs.items():
            for epoch, rate in rates:
                problem = _rate_problem(rate, bound, self.max_factor)
                if problem:
                    return self._verdict(subject, "rates", f"lr({self.base_lr:g}, {epoch:g}, {total}) {problem}", "")
        lowest = min(float(rate) for rates in runs.values() for _, rate in rates)
        highest = max(float(rate) for rates in runs.values() for _, rate in rates)
        where = f"{'steps' if per_step else 'epochs'} of runs of {', '.join(map(str, TOTALS))} epochs"
        return self._verdict(subject, "rates", "", f"finite, in [{lowest:.3g}, {highest:.3g}] for base {self.base_lr:g} over all {where}")

    def _epoch_zero(self, subject: Subject, runs) -> CheckResult:
        for total, rates in runs.items():
            values = [float(rate) for _, rate in rates]
            if any(later > earlier for earlier, later in zip(values, values[1:])):
                return self._verdict(subject, "epoch 0", "", f"the rate rises during a {total}-epoch run (warm-up): exempt")
        first = {total: float(rates[0][1]) for total, rates in runs.items()}
        wrong = {total: rate for total, rate in first.items() if not math.isclose(rate, self.base_lr, rel_tol=1e-12)}
        if wrong:
            total, rate = next(iter(wrong.items()))
            return self._verdict(
                subject, "epoch 0",
                f"a schedule that only decays must start at the base rate, but lr({self.base_lr:g}, 0, {total}) = {rate:.6g} "
                f"(are epochs counted from 1? the loop counts them from 0)", "")
        return self._verdict(subject, "epoch 0", "", "a decaying schedule: the first epoch gets the base rate")

    def _pure(self, subject: Subject, runs) -> CheckResult:
        total = TOTALS[-1]
        later = [(epoch, rate) for epoch, rate in runs[total] if epoch >= total // 2]
        fresh = subject.build()
        for epoch, rate in later:
            again = fresh.lr(self.base_lr, epoch, total)
            if again != rate:
                return self._verdict(
                    subject, "pure",
                    f"a fresh schedule asked from epoch {total // 2} (as after a resume) gives lr at epoch {epoch:g} = "
                    f"{again!r}, the first one gave {rate!r}: the rate must depend on its arguments only", "")
        return self._verdict(subject, "pure", "", f"a fresh schedule asked from epoch {total // 2} of {total} gives the same rates")

    def _verdict(self, subject: Subject, aspect: str, problem: str, detail: str) -> CheckResult:
        """A yes/no aspect: error 0 when it holds, infinite (with the reason) when it does not."""
        return CheckResult(subject.label, self.name, aspect, math.inf if problem else 0.0, 1.0,
                           problem or detail, measure="violations")


def _epochs(total: int, per_step: bool) -> list[float]:
    if not per_step:
        return list(range(total))
    return [epoch + step / STEPS_PER_EPOCH for epoch in range(total) for step in range(STEPS_PER_EPOCH)]


def _signature_problem(schedule) -> str:
    lr = getattr(schedule, "lr", None)
    if not callable(lr):
        return f"{type(schedule).__name__} has no lr method"
    try:
        inspect.signature(lr).bind(0.1, 0, 1)
    except TypeError as exc:
        return f"lr cannot be called as lr(base_lr, epoch, total_epochs): {exc}"
    except ValueError:  # no signature to inspect (a builtin): the calls below tell
        pass
    return ""


def _rate_problem(rate, bound: float, factor: float) -> str:
    if isinstance(rate, bool) or not isinstance(rate, (numbers.Real, np.floating, np.integer)):
        return f"returned {type(rate).__name__} {rate!r}, not a number"
    rate = float(rate)
    if not math.isfinite(rate):
        return f"= {rate}, not finite"
    if rate <= 0:
        return f"= {rate:.6g}, not positive (a step with rate 0 does nothing)"
    if rate > bound:
        return f"= {rate:.6g}, more than {bound:g} ({factor:g} times the base rate)"
    return ""
