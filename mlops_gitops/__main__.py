"""`python -m mlops_gitops`."""

from mlops_gitops.cli import run

run()
