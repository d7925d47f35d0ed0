"""The structured outcome of one gradient comparison."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class CheckResult:
    component: str
    check: str
    parameter: str
    error: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return self.error < self.tolerance

    def describe(self) -> str:
        verdict = "ok" if self.passed else "FAILED"
        return (
            f"{self.component} [{self.check}] {self.parameter}: relative error {self.error:.2e} "
            f"(tolerance {self.tolerance:.0e}) {verdict}"
        )

    def as_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}
