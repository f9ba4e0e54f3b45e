"""The supplier cost book: what the product pays its model suppliers per token class and day.

Default prices come from the data bundled with the ``genai-prices`` package (never fetched at run
time); a user cost file (YAML or CSV) overrides or extends them::

    book = CostBook.load("costs.yaml")            # over CostBook.default()
    book.lookup("claude-sonnet-4-5", date(2026, 1, 5)).input    # Decimal('3') USD per 1M tokens
    book.cost("gpt-4o-mini", counts, band=0, at=date(2026, 1, 5)).amount
"""

from billing.costs.book import CostBook
from billing.costs.file import CostEntry, CostFileError, CostProblem, read_cost_file
from billing.costs.model import CostResult, ModelCost, price_counts

__all__ = [
    "CostBook",
    "CostEntry",
    "CostFileError",
    "CostProblem",
    "CostResult",
    "ModelCost",
    "price_counts",
    "read_cost_file",
]
