"""Local serving of the deployments of target `local` (KServe V1 protocol)."""
