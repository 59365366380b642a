"""mlops-gitops: the lifecycle of machine-learning models, run the GitOps way."""

__version__ = "0.1.0"
