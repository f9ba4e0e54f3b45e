"""Usage events, trace readers and the one-scan aggregation that feeds every plan."""
