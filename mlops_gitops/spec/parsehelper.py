"""A second process that parses part of a large repository while the loader type-checks.

Its results only fill the parse cache of the run; every file still goes through the loader.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from mlops_gitops.spec.cache import ParseCache, content_key, is_plain
from mlops_gitops.spec.repository import Prefetched
from mlops_gitops.spec.templates import DEFAULT_BUDGET, Budget, TemplateProblem, render
from mlops_gitops.spec.yamlsource import YamlProblem, parse

PARALLEL_MIN = 400
"""Files to parse before a second process helps (2 cores parse 10,000 files in half the time)."""


HELPER_SHARE = 0.55
"""The share (in bytes) of the files to parse that the helper process takes: the main
process also type-checks every object while the helper only parses."""


def parse_ahead(
    cache: ParseCache,
    files: list[tuple[str, str]],
    contents: list[Prefetched | None],
    values: dict[str, Any],
    template_key: str | None,
    budget: Budget = DEFAULT_BUDGET,
) -> None:
    """Let a second process parse part of the files the cache does not know, when it helps.

    The helper's results only fill the cache of this run: every file still goes through the
    same steps in this process, so results and messages do not depend on who parsed what.
    """
    jobs = []
    for (_, rel), content in zip(files, contents, strict=True):
        template = rel.endswith(".j2")
        if content is None or (template and template_key is None):
            continue
        key = content_key(content[1], template_key if template else None)
        if not cache.known(key):
            jobs.append((key, content[0], rel, template))
    if len(jobs) < PARALLEL_MIN or not _can_fork():
        return
    # The helper takes the tail, so this process reaches its files last; by size, as a model
    # file with many versions is much more work than a deployment.
    left = sum(len(job[1]) for job in jobs) * HELPER_SHARE
    start = len(jobs)
    while start > 0 and left > 0:
        start -= 1
        left -= len(jobs[start][1])
    cache.pending = _spawn_helper(jobs[start:], values, budget)
    cache.awaited = {job[0] for job in jobs[start:]} if cache.pending else set()


def _can_fork() -> bool:
    """Only where forking a Python process is safe and there is a second core to run it."""
    import threading

    if not sys.platform.startswith("linux") or threading.active_count() != 1:
        return False
    return len(os.sched_getaffinity(0)) >= 2


Job = tuple[str, bytes, str, bool]
"""Cache key, bytes, relative path, whether the file is a template."""


def _parse_job(
    job: Job, values: dict[str, Any], budget: Budget
) -> tuple[str, Any, str | None] | None:
    """(key, data, rendered text) for a file that parses cleanly; None leaves it to the loader."""
    key, data, rel, template = job
    try:
        text = data.decode("utf-8")
        if template:
            text = render(text, rel, values, budget)
        return key, parse(text).data, text if template else None
    except (UnicodeDecodeError, TemplateProblem, YamlProblem):
        return None


def _spawn_helper(
    jobs: list[Job], values: dict[str, Any], budget: Budget
) -> Callable[[ParseCache], None] | None:
    """Fork a process that parses `jobs`; returns what collects its results into a cache.

    Results travel as JSON: only plain data (no dates, bytes or sets), the rest is parsed
    here again. Never pickle, even from our own child."""
    import json

    from mlops_gitops.safeio import dumps as json_dumps

    try:
        read_fd, write_fd = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return None
    if pid == 0:  # pragma: no cover - the helper process; its results are checked in the parent
        code = 1
        try:
            os.close(read_fd)
            results = [
                found
                for job in jobs
                if (found := _parse_job(job, values, budget)) is not None and is_plain(found[1])
            ]
            payload = json_dumps(results, separators=(",", ":")).encode()
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(payload)
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)

    def collect(cache: ParseCache) -> None:
        try:
            with os.fdopen(read_fd, "rb") as pipe:
                payload = pipe.read()
        finally:
            _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            return  # the files are parsed here instead
        try:
            results = json.loads(payload)
        except (ValueError, RecursionError):  # a helper that died mid-write: parse here
            return
        for key, data, text in results:
            cache.put(key, data, text, used=False)

    return collect
