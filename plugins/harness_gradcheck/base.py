"""What the component checkers share: which subjects they take and how they build them."""

from __future__ import annotations

from abc import ABC, abstractmethod

from harness import CheckResult, Subject
from harness_gradcheck.numerics import relative_error


class ComponentChecker(ABC):
    """A checker of one layer, activation or loss in one engine.

    Subclasses implement ``check_layer(component, layer, engine)`` and
    ``check_loss(component, loss, engine)``; :meth:`check` builds the subject through
    the registry (with its factory's ``check_options``) and dispatches on its kind.
    """

    name = "component"
    tolerance = 0.0

    def applies_to(self, subject: Subject) -> bool:
        return subject.is_component and len(subject.engines) == 1

    def check(self, subject: Subject) -> list[CheckResult]:
        component, engine = subject.build(), subject.make_engine()
        if subject.kind == "loss":
            return self.check_loss(subject.label, component, engine)
        return self.check_layer(subject.label, component, engine)

    @abstractmethod
    def check_layer(self, component: str, layer, engine) -> list[CheckResult]:
        """Results for one built layer or activation of ``engine``."""

    @abstractmethod
    def check_loss(self, component: str, loss, engine) -> list[CheckResult]:
        """Results for one built loss of ``engine``."""

    def _result(self, component: str, parameter: str, analytic, numeric, detail: str = "") -> CheckResult:
        return CheckResult(component, self.name, parameter, relative_error(analytic, numeric), self.tolerance, detail)

    def _skip(self, component: str, parameter: str, reason: str) -> CheckResult:
        return CheckResult(component, self.name, parameter, float("nan"), self.tolerance, reason, skipped=True)
