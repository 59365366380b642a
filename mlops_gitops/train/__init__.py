"""Training pipelines: data sources -> transformations -> split -> trainer -> new version."""
