"""token-billing: price and bill LLM token usage exactly."""
