"""Cross-object checks: references between objects and the meaning of values together."""

from __future__ import annotations

from collections.abc import Generator, Iterator

from mlops_gitops.errors import Problem
from mlops_gitops.spec import locations
from mlops_gitops.spec import models as spec_models
from mlops_gitops.spec.problems import field_path
from mlops_gitops.spec.repository import Loaded, Repository
from mlops_gitops.spec.targets import KSERVE_VERSIONS, RUNTIMES, dns_1035_problem
from mlops_gitops.urls import host_problem, parse_http_url

FieldPath = tuple[str | int, ...]


def _at(item: Loaded, path: FieldPath, message: str) -> Problem:
    line, column = item.source.locate(path)
    return Problem(
        message,
        path=item.source.path,
        line=line,
        column=column,
        kind=item.obj.kind,
        name=item.obj.metadata.name,
        field=field_path(path),
    )


def _versions(repo: Repository, model: str) -> dict[str, spec_models.ModelVersion] | None:
    loaded = repo.get("Model", model)
    if loaded is None or not isinstance(loaded.obj, spec_models.Model):
        return None
    return {v.version: v for v in loaded.obj.spec.versions}


def _exists(repo: Repository, kind: str, name: str) -> bool:
    return (kind, name) in repo.objects or (kind, name) in repo.broken


def _known(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names[:8]) + (", ..." if len(names) > 8 else "") or "none"


def cross_check(repo: Repository) -> list[Problem]:
    """Every reference and combined-value problem, in file order."""
    problems: list[Problem] = []
    checks = (
        _models,
        _deployments,
        _kserve,
        _rules,
        _retirements,
        _pipelines,
        _tombstones,
        _outbound,
    )
    for check in checks:
        problems.extend(check(repo))
    problems.extend(_locations(repo))
    from mlops_gitops.spec import metricnames  # it uses this module's helpers

    problems.extend(metricnames.problems(repo))
    return problems


def _models(repo: Repository) -> Iterator[Problem]:
    for item in repo.of_kind("Model"):
        assert isinstance(item.obj, spec_models.Model)
        seen: dict[str, int] = {}
        for index, version in enumerate(item.obj.spec.versions):
            if version.version in seen:
                yield _at(
                    item,
                    ("spec", "versions", index, "version"),
                    f"version {version.version!r} is listed twice"
                    f" (first as versions[{seen[version.version]}])",
                )
            seen.setdefault(version.version, index)
            yield from _parent(repo, item, index, version)


MAX_PARENT_CHAIN = 1000


def _parent(
    repo: Repository, item: Loaded, index: int, version: spec_models.ModelVersion
) -> Iterator[Problem]:
    """A version is never its own parent and parents never loop. A parent no longer in the
    specs is allowed: versions are removed once retired, their children stay as they were."""
    model = item.obj.metadata.name
    ref = version.parent_ref(model)
    if ref is None:
        return
    path = ("spec", "versions", index, "parent")
    if ref == (model, version.version):
        yield _at(item, path, "a version cannot be its own parent")
        return
    seen = {(model, version.version)}
    current: tuple[str, str] | None = ref
    while current is not None and len(seen) <= MAX_PARENT_CHAIN:
        if current in seen:
            yield _at(item, path, f"the parents loop back to {current[0]}@{current[1]}")
            return
        seen.add(current)
        entry = (_versions(repo, current[0]) or {}).get(current[1])
        current = entry.parent_ref(current[0]) if entry else None


def _missing_model(item: Loaded, path: FieldPath, model: str, repo: Repository) -> Problem:
    names = [name for kind, name in repo.objects if kind == "Model"]
    return _at(item, path, f"model {model!r} does not exist; known models: {_known(sorted(names))}")


def _missing_version(
    item: Loaded, path: FieldPath, model: str, version: str, known: list[str]
) -> Problem:
    return _at(
        item,
        path,
        f"version {version!r} is not a version of model {model!r} (versions: {_known(known)});"
        " a version in use cannot be removed from its model",
    )


def _model_version(
    item: Loaded, model: str, version: str, repo: Repository
) -> Generator[Problem, None, dict[str, spec_models.ModelVersion] | None]:
    """Check spec.model and spec.version; the model's versions, or None when it is missing."""
    versions = _versions(repo, model)
    if versions is None:
        if ("Model", model) not in repo.broken:
            yield _missing_model(item, ("spec", "model"), model, repo)
        return None
    if version not in versions:
        yield _missing_version(item, ("spec", "version"), model, version, list(versions))
    return versions


def _deployments(repo: Repository) -> Iterator[Problem]:
    for item in repo.of_kind("Deployment"):
        assert isinstance(item.obj, spec_models.Deployment)
        spec = item.obj.spec
        versions = yield from _model_version(item, spec.model, spec.version, repo)
        if versions is None:
            continue
        if spec.canary is not None:
            if spec.canary.version not in versions:
                yield _missing_version(
                    item,
                    ("spec", "canary", "version"),
                    spec.model,
                    spec.canary.version,
                    list(versions),
                )
            if spec.canary.version == spec.version:
                yield _at(
                    item,
                    ("spec", "canary", "version"),
                    f"canary version {spec.canary.version!r} is the stable version;"
                    " a canary must differ from spec.version",
                )


def _kserve(repo: Repository) -> Iterator[Problem]:
    """What the kserve renderer needs: Kubernetes names, a pinned KServe version, formats a
    runtime can load, one runtime for stable and canary."""
    pinned = repo.project is not None and (
        isinstance(repo.project.obj, spec_models.Project) and repo.project.obj.spec.targets.kserve
    )
    for item in repo.of_kind("Deployment"):
        assert isinstance(item.obj, spec_models.Deployment)
        spec = item.obj.spec
        if spec.target != "kserve":
            if spec.monitoring.logger_url is not None:
                yield _at(
                    item,
                    ("spec", "monitoring", "logger_url"),
                    "logger_url configures KServe's payload logger; it applies to target kserve"
                    f" only, and this deployment's target is {spec.target!r}",
                )
            continue
        for path, kind, name in (
            (("metadata", "name"), "deployment", item.obj.metadata.name),
            (("spec", "model"), "model", spec.model),
        ):
            why = dns_1035_problem(name)
            if why is not None:
                yield _at(
                    item,
                    path,
                    f"{kind} name {name!r} cannot be used by target kserve: a Kubernetes"
                    f" name (DNS-1035 label) {why}",
                )
        if not pinned:
            yield _at(
                item,
                ("spec", "target"),
                "target kserve needs the KServe version in mlops.yaml:"
                f" spec.targets.kserve.version (one of {', '.join(KSERVE_VERSIONS)})",
            )
        yield from _kserve_formats(item, spec, repo)


def _kserve_formats(
    item: Loaded, spec: spec_models.DeploymentSpec, repo: Repository
) -> Iterator[Problem]:
    versions = _versions(repo, spec.model) or {}
    used: list[tuple[FieldPath, str]] = [(("spec", "version"), spec.version)]
    if spec.canary is not None:
        used.append((("spec", "canary", "version"), spec.canary.version))
    runtimes: set[str] = set()
    for path, version in used:
        found = versions.get(version)
        if found is None:
            continue
        runtime = RUNTIMES.get(found.format)
        if runtime is None:
            known = ", ".join(f"{fmt} ({r.description})" for fmt, r in RUNTIMES.items())
            yield _at(
                item,
                path,
                f"version {version!r} of {spec.model!r} has format {found.format!r}, which target"
                f" kserve cannot render for a runtime that loads it; it renders {known}",
            )
            continue
        runtimes.add(runtime.name)
    if len(runtimes) > 1:
        yield _at(
            item,
            ("spec", "canary", "version"),
            "stable and canary would need different KServe runtimes"
            f" ({', '.join(sorted(runtimes))}); KServe splits traffic between revisions of"
            " one predictor, so both versions must have formats the same runtime loads",
        )


def _rules(repo: Repository) -> Iterator[Problem]:
    for item in repo.of_kind("Rule"):
        assert isinstance(item.obj, spec_models.Rule)
        spec = item.obj.spec
        deployment = repo.get("Deployment", spec.deployment)
        if deployment is None and ("Deployment", spec.deployment) not in repo.broken:
            names = sorted(name for kind, name in repo.objects if kind == "Deployment")
            yield _at(
                item,
                ("spec", "deployment"),
                f"deployment {spec.deployment!r} does not exist;"
                f" known deployments: {_known(names)}",
            )
        for index, action in enumerate(spec.actions):
            if isinstance(action, spec_models.RetrainAction) and not _exists(
                repo, "TrainingPipeline", action.pipeline
            ):
                names = sorted(name for kind, name in repo.objects if kind == "TrainingPipeline")
                yield _at(
                    item,
                    ("spec", "actions", index, "pipeline"),
                    f"training pipeline {action.pipeline!r} does not exist;"
                    f" known pipelines: {_known(names)}",
                )
            if (
                isinstance(action, spec_models.RollbackAction)
                and action.to is not None
                and deployment is not None
                and isinstance(deployment.obj, spec_models.Deployment)
            ):
                versions = _versions(repo, deployment.obj.spec.model)
                if versions is not None and action.to not in versions:
                    yield _missing_version(
                        item,
                        ("spec", "actions", index, "to"),
                        deployment.obj.spec.model,
                        action.to,
                        list(versions),
                    )


def _retirements(repo: Repository) -> Iterator[Problem]:
    planned: dict[tuple[str, str], str] = {}
    for item in repo.of_kind("RetirementPlan"):
        assert isinstance(item.obj, spec_models.RetirementPlan)
        spec = item.obj.spec
        versions = yield from _model_version(item, spec.model, spec.version, repo)
        if versions is None:
            continue
        if spec.replacement == spec.version:
            yield _at(
                item,
                ("spec", "replacement"),
                f"the replacement {spec.replacement!r} is the version being retired",
            )
        elif spec.replacement not in versions:
            yield _missing_version(
                item, ("spec", "replacement"), spec.model, spec.replacement, list(versions)
            )
        other = planned.get((spec.model, spec.version))
        if other is not None:
            yield _at(
                item,
                ("spec", "version"),
                f"version {spec.version!r} of {spec.model!r} already has retirement plan {other!r}",
            )
        planned.setdefault((spec.model, spec.version), item.obj.metadata.name)


def _pipelines(repo: Repository) -> Iterator[Problem]:
    for item in repo.of_kind("TrainingPipeline"):
        assert isinstance(item.obj, spec_models.TrainingPipeline)
        spec = item.obj.spec
        if not _exists(repo, "Model", spec.model):
            yield _missing_model(item, ("spec", "model"), spec.model, repo)
        if spec.canary is not None:
            deployment = repo.get("Deployment", spec.canary.deployment)
            if deployment is None and ("Deployment", spec.canary.deployment) not in repo.broken:
                yield _at(
                    item,
                    ("spec", "canary", "deployment"),
                    f"deployment {spec.canary.deployment!r} does not exist",
                )
            elif (
                deployment is not None
                and isinstance(deployment.obj, spec_models.Deployment)
                and deployment.obj.spec.model != spec.model
            ):
                yield _at(
                    item,
                    ("spec", "canary", "deployment"),
                    f"deployment {spec.canary.deployment!r} serves model"
                    f" {deployment.obj.spec.model!r}, not {spec.model!r}",
                )


def _tombstones(repo: Repository) -> Iterator[Problem]:
    for item in repo.of_kind("Tombstone"):
        assert isinstance(item.obj, spec_models.Tombstone)
        live = repo.get(item.obj.spec.kind, item.obj.metadata.name)
        if live is not None:
            yield _at(
                item,
                ("metadata", "name"),
                f"{item.obj.spec.kind} {item.obj.metadata.name!r} still exists in "
                f"{live.source.path}; delete that file or this tombstone",
            )


def _located(repo: Repository) -> Iterator[tuple[Loaded, FieldPath, str]]:
    """Every artifact, data and log location in the specs, with its field."""
    for item in repo.of_kind("Model"):
        assert isinstance(item.obj, spec_models.Model)
        for index, version in enumerate(item.obj.spec.versions):
            at: FieldPath = ("spec", "versions", index)
            yield item, (*at, "artifact"), version.artifact
            if version.training_data is not None:
                yield item, (*at, "training_data", "uri"), version.training_data.uri
            if version.reference_data is not None:
                yield item, (*at, "reference_data"), version.reference_data
    for item in repo.of_kind("Deployment"):
        assert isinstance(item.obj, spec_models.Deployment)
        monitoring = item.obj.spec.monitoring
        for key in ("predictions", "labels"):
            value = getattr(monitoring, key)
            if value is not None:
                yield item, ("spec", "monitoring", key), value
    for item in repo.of_kind("TrainingPipeline"):
        assert isinstance(item.obj, spec_models.TrainingPipeline)
        for index, source in enumerate(item.obj.spec.data_sources):
            if isinstance(source, spec_models.FileSource):
                yield item, ("spec", "data_sources", index, "path"), source.path
            elif isinstance(source, spec_models.HttpSource):
                yield item, ("spec", "data_sources", index, "url"), source.url


def _locations(repo: Repository) -> Iterator[Problem]:
    """Schemes the Project allows, and repository paths whose symlinks stay inside it."""
    project = repo.project.obj if repo.project is not None else None
    security = project.spec.security if isinstance(project, spec_models.Project) else None
    inside = locations.Inside(repo.root)
    for item, path, value in _located(repo):
        problem = locations.problem(value, security)
        if (
            problem is None
            and path[-1] == "url"
            and locations.scheme(value)
            not in (
                "http",
                "https",
            )
        ):
            problem = f"{value!r}: an http data source needs an https:// (or http://) URL"
        if problem is None:
            real = inside.escapes(value)
            if real is not None:
                problem = (
                    f"{value} leads outside the repository through a symlink ({real});"
                    " the tool does not read it"
                )
        if problem is not None:
            yield _at(item, path, problem)


def _outbound(repo: Repository) -> Iterator[Problem]:
    """Webhook URLs whose host is written as a forbidden address (or a loopback or private one
    without `security.allow_private_webhooks`). Names are checked again after lookup, at call
    time. What the tool reads over HTTP (artifacts, data sources) follows `_locations`."""
    project = repo.project.obj if repo.project is not None else None
    allow = (
        isinstance(project, spec_models.Project) and project.spec.security.allow_private_webhooks
    )
    for item in repo.of_kind("Rule"):
        assert isinstance(item.obj, spec_models.Rule)
        for index, action in enumerate(item.obj.spec.actions):
            if not isinstance(action, spec_models.AlertAction) or not action.url:
                continue
            try:
                target = parse_http_url(action.url)
            except ValueError:
                continue  # the URL's own field check reported it
            problem = host_problem(target, allow)
            if problem is not None:
                path = ("spec", "actions", index, "url")
                yield _at(item, path, f"the URL's host {target.host} is {problem}")


def cautions(repo: Repository) -> list[Problem]:
    """What is valid but will not work as written: a trained canary a policy blocks forever."""
    from mlops_gitops.spec.trainpolicy import blocked_canary

    project = repo.project.obj if repo.project is not None else None
    if not isinstance(project, spec_models.Project):
        return []
    found: list[Problem] = []
    for item in repo.of_kind("TrainingPipeline"):
        assert isinstance(item.obj, spec_models.TrainingPipeline)
        canary = item.obj.spec.canary
        deployment = repo.get("Deployment", canary.deployment) if canary else None
        if (
            canary is None
            or deployment is None
            or not isinstance(deployment.obj, spec_models.Deployment)
        ):
            continue
        for reason in blocked_canary(project.spec.policies, deployment.obj.spec, canary.traffic):
            message = f"the canary it trains into {canary.deployment!r} stays blocked: {reason}"
            found.append(_at(item, ("spec", "canary", "deployment"), message))
    return found
