"""``python -m billing`` runs the command line."""

from billing.cli import run

run()
