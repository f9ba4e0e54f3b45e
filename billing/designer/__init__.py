"""The plan designer: synthetic workloads to try plans on, and the pricing economics behind them.

- :mod:`billing.designer.workload`: workload files (population, activity skew, model mix,
  conversation shape), validated with file:line errors.
- :mod:`billing.designer.conversation`: the multi-turn token rule (input grows as
  ``k * n * (n + 1) / 2`` until the context window caps it).
- :mod:`billing.designer.simulate`: ``simulate(workload)`` yields labelled synthetic
  :class:`~billing.usage.events.UsageEvent` s; ``write_trace`` writes them to Parquet;
  ``simulate_to_parquet`` writes the same file column by column (fast).
- :mod:`billing.designer.economics`: the Lerner margin, implied marginal cost and Cournot markups.
"""

from billing.designer.conversation import (
    TurnTokens,
    conversation_input_tokens,
    conversation_turns,
    turn_tokens,
)
from billing.designer.economics import (
    EconomicsError,
    EconomicsView,
    competitive_margin,
    demand_share,
    economics_view,
    implied_marginal_cost_per_mtok,
    lerner_margin,
    price_elasticity,
    willingness_to_pay_per_mtok,
)
from billing.designer.simulate import simulate, simulate_to_parquet, write_trace
from billing.designer.workload import Workload, WorkloadError, load_workload, parse_workload

__all__ = [
    "EconomicsError",
    "EconomicsView",
    "TurnTokens",
    "Workload",
    "WorkloadError",
    "competitive_margin",
    "conversation_input_tokens",
    "conversation_turns",
    "demand_share",
    "economics_view",
    "implied_marginal_cost_per_mtok",
    "lerner_margin",
    "load_workload",
    "parse_workload",
    "price_elasticity",
    "simulate",
    "simulate_to_parquet",
    "turn_tokens",
    "willingness_to_pay_per_mtok",
    "write_trace",
]
