"""Monitoring: prediction logs -> mergeable window summaries -> drift, metrics, reports."""

import os

# Arrow's allocator (mimalloc) keeps the pages of every decoded batch for reuse by the thread
# that freed them; reading a log decodes each batch once, so that only raised the peak (by 150
# MB at 1M records). Returning them at once must be set before pyarrow is first loaded.
# Its arenas are committed as they fill, not up front (14 MB less at 1M records).
os.environ.setdefault("MIMALLOC_PURGE_DELAY", "0")
os.environ.setdefault("MIMALLOC_ARENA_EAGER_COMMIT", "0")
