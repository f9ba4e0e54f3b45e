"""Usage events, trace readers and the one-scan aggregation that feeds every plan.

Provider-native usage objects become events through :func:`from_openai`,
:func:`from_anthropic` and :func:`from_gemini` (see :mod:`billing.usage.providers`).
"""

from billing.usage.providers import from_anthropic, from_gemini, from_openai

__all__ = ["from_anthropic", "from_gemini", "from_openai"]
