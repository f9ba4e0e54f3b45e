"""The plan catalog: every version of every plan, and the one in force at a date."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path

from billing.errors import PlanProblem, PlanValidationError, UnknownPlanError
from billing.plans.loader import load_plan, plan_files
from billing.plans.model import Plan

__all__ = ["PlanCatalog", "load_catalog"]


class PlanCatalog:
    """Immutable collection of plan versions, looked up by id and date."""

    def __init__(self, plans: Iterable[Plan],
                 sources: dict[tuple[str, date], Path] | None = None) -> None:
        self.sources: dict[tuple[str, date], Path] = dict(sources or {})
        """The file each (plan id, version) was loaded from, when it came from a file."""
        by_id: dict[str, list[Plan]] = {}
        for plan in plans:
            versions = by_id.setdefault(plan.id, [])
            if any(v.version == plan.version for v in versions):
                raise PlanValidationError(
                    [PlanProblem("<catalog>", None, "version",
                                 f"plan {plan.id!r} has two versions effective {plan.version}")]
                )
            versions.append(plan)
        self._versions = {k: sorted(v, key=lambda p: p.version) for k, v in by_id.items()}

    def __iter__(self) -> Iterator[Plan]:
        """The latest version of each plan, in id order."""
        for plan_id in sorted(self._versions):
            yield self._versions[plan_id][-1]

    def __len__(self) -> int:
        return len(self._versions)

    def __contains__(self, plan_id: object) -> bool:
        return plan_id in self._versions

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._versions))

    def versions(self, plan_id: str) -> tuple[Plan, ...]:
        try:
            return tuple(self._versions[plan_id])
        except KeyError:
            known = ", ".join(self.ids) or "none"
            raise UnknownPlanError(f"no plan {plan_id!r} (known plans: {known})") from None

    def version_at(self, plan_id: str, at: date) -> Plan:
        """The version of ``plan_id`` in force on ``at`` (the latest effective on or before it)."""
        versions = self.versions(plan_id)
        index = bisect.bisect_right([v.version for v in versions], at)
        if index == 0:
            raise UnknownPlanError(
                f"plan {plan_id!r} has no version in force on {at} "
                f"(its first version is effective {versions[0].version})"
            )
        return versions[index - 1]

    def latest(self, plan_id: str) -> Plan:
        return self.versions(plan_id)[-1]


def load_catalog(paths: Iterable[str | Path]) -> PlanCatalog:
    """Load every plan file (directories are expanded); all problems of all files at once."""
    plans: list[Plan] = []
    sources: dict[tuple[str, date], Path] = {}
    problems: list[PlanProblem] = []
    files = plan_files(paths)
    if not files:
        raise PlanValidationError([PlanProblem(", ".join(map(str, paths)), None, "",
                                               "no plan files (*.yaml, *.yml, *.toml) found")])
    for file in files:
        try:
            plan = load_plan(file)
            plans.append(plan)
            sources[(plan.id, plan.version)] = file
        except PlanValidationError as exc:
            problems.extend(exc.problems)
    if problems:
        raise PlanValidationError(problems)
    return PlanCatalog(plans, sources)
