"""Recovery results as text and JSON: `store verify|restore|gc` and `state restore`."""

from __future__ import annotations

from mlops_gitops.apply.blobs import Collected, Needed, Restored, Verified
from mlops_gitops.render.base import Lines, Paint, document, plain, versioned
from mlops_gitops.state.restore import Restored as StateRestored


def _names(need: Needed) -> str:
    return ", ".join(f"{model}@{version}" for model, version in need.versions)


def verify_text(result: Verified, paint: Paint = plain) -> str:
    out = Lines(paint)
    for need in result.missing:
        out.add(f"missing  {need.blob} ({_names(need)})", "red")
    for need in result.corrupt:
        out.add(f"corrupt  {need.blob} ({_names(need)}): not its sha256", "red")
    bad = len(result.missing) + len(result.corrupt)
    if bad:
        out.add(
            f"Store {result.store}: {bad} of {result.checked} blobs missing or corrupt; "
            "run `mlops-gitops store restore`.",
            "red",
        )
    else:
        out.add(f"Store {result.store}: all {result.checked} blobs present and intact.", "green")
    return out.text()


def restore_text(result: Restored, paint: Paint = plain) -> str:
    out = Lines(paint)
    for need, where in result.restored:
        out.add(f"restored {need.blob} ({_names(need)}) from {where}", "green")
    for need, why in result.failed:
        out.add(f"failed   {need.blob} ({_names(need)}): {why}", "red")
    if not result.restored and not result.failed:
        out.add(f"Nothing to restore: all {result.checked} blobs present and intact.")
    elif result.failed:
        out.add(f"{len(result.failed)} blobs could not be restored.", "red")
    else:
        out.add(f"Restored {len(result.restored)} blobs.", "green")
    return out.text()


def gc_text(result: Collected, paint: Paint = plain) -> str:
    out = Lines(paint)
    verb = "would remove" if result.dry_run else "removed"
    for blob in result.removed:
        out.add(f"{verb} {blob}")
    out.add(f"{verb.capitalize()} {len(result.removed)} blobs; kept {result.kept}.")
    return out.text()


def state_restore_text(result: StateRestored, paint: Paint = plain) -> str:
    out = Lines(paint)
    out.add(
        f"Restored {result.files} state files from {result.source[:12]} "
        f"(lineage {result.lineage}, serial {result.serial}).",
        "green",
    )
    for rel in result.removed:
        out.add(f"  removed {rel} (not in that commit)")
    for rel in result.skipped:
        out.add(f"  left out {rel} (not a state file)")
    if result.commit:
        out.add(f"Committed {result.commit[:12]} (Mlops-Restore: {result.source[:12]}).")
    else:
        out.add("Nothing to commit: the committed state already matches.")
    return out.text()


def state_restore_json(result: StateRestored) -> str:
    return document(
        versioned(
            source=result.source,
            lineage=result.lineage,
            serial=result.serial,
            files=result.files,
            removed=result.removed,
            skipped=result.skipped,
            commit=result.commit,
        )
    )


def store_json(result: Verified | Restored | Collected) -> str:
    return document(result.to_json())
