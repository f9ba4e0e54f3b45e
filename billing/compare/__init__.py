"""Plan comparison on usage traces: every plan rated on the same aggregates, against supplier cost.

::

    report = compare(load_catalog(["plans/"]), spec, costbook=CostBook.default(),
                     options=CompareOptions(fx={"EUR": Decimal("1.08")}))
    report.to_json(); report.to_csv("out.csv"); report.to_html()
"""

from billing.compare.comparison import check_currencies, compare, is_synthetic, rate_plans
from billing.compare.model import (
    CompareOptions,
    CustomerResult,
    CustomerRows,
    GradeFigures,
    PlanResult,
    TraceSummary,
)
from billing.compare.report import ComparisonReport

__all__ = [
    "CompareOptions",
    "ComparisonReport",
    "CustomerResult",
    "CustomerRows",
    "GradeFigures",
    "PlanResult",
    "TraceSummary",
    "check_currencies",
    "compare",
    "is_synthetic",
    "rate_plans",
]
