"""The spec kinds, one module each; `mlops_gitops.spec.models` gathers them."""
