"""Rating: compiled plans price aggregate usage into exact invoices, in batch or online."""
