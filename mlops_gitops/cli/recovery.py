"""Commands that bring back what was lost: state restore, store verify|restore|gc."""

from __future__ import annotations

import argparse

from mlops_gitops.cli.base import (
    EXIT_ERROR,
    EXIT_OK,
    Commands,
    Output,
    command,
    format_option,
    group,
    no_commit_option,
)


def cmd_state_restore(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api
    from mlops_gitops.render import store as render

    result = api.state_restore(args.repo, args.rev, commit=not args.no_commit)
    if args.format == "json":
        out.write(render.state_restore_json(result))
    else:
        out.write(render.state_restore_text(result, out.paint))
    return EXIT_OK


def cmd_store_verify(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api
    from mlops_gitops.render import store as render

    result = api.store_verify(args.repo, args.now)
    if args.format == "json":
        out.write(render.store_json(result))
    else:
        out.write(render.verify_text(result, out.paint))
    return EXIT_OK if result.ok else EXIT_ERROR


def cmd_store_restore(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api
    from mlops_gitops.render import store as render

    result = api.store_restore(args.repo, args.source, args.now)
    if args.format == "json":
        out.write(render.store_json(result))
    else:
        out.write(render.restore_text(result, out.paint))
    return EXIT_OK if result.ok else EXIT_ERROR


def cmd_store_gc(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api
    from mlops_gitops.render import store as render

    result = api.store_gc(args.repo, args.dry_run, args.now)
    if args.format == "json":
        out.write(render.store_json(result))
    else:
        out.write(render.gc_text(result, out.paint))
    return EXIT_OK


def add_state(commands: Commands) -> None:
    state = group(commands, "state", "recover the recorded state from git history", "state_command")
    restore = command(
        state,
        "restore",
        cmd_state_restore,
        help="restore lost or damaged recorded state from git history and commit it",
        description="Write the state folder as committed in the last commit where it was "
        "intact (or REV), after checking its lineage and serial against the last apply the "
        "history recorded, and commit it with Mlops-Restore: <commit>.",
    )
    restore.add_argument(
        "--from",
        dest="rev",
        metavar="REV",
        help="the commit to restore from (default: the last intact one)",
    )
    no_commit_option(restore, "write the state but do not commit")
    format_option(restore)


def add_store(commands: Commands) -> None:
    store = group(commands, "store", "check, rebuild and clean the artifact store", "store_command")
    verify = command(
        store,
        "verify",
        cmd_store_verify,
        help="check every blob the state needs is present with its sha256",
        description="Hash every blob recorded state needs (registered versions, archived ones "
        "within store.keep_archived). Exit 0 all intact, 1 some missing or corrupt.",
    )
    format_option(verify)
    verify.add_argument("--now", help="the time archived blobs are judged at (ISO 8601)")
    restore = command(
        store,
        "restore",
        cmd_store_restore,
        help="re-import missing or corrupt blobs from the specs' artifacts or another store",
        description="Copy back every missing or corrupt blob from the artifact its versions "
        "name in the specs (or from the store at --from), accepting only bytes that hash to "
        "the recorded sha256. Exit 0 all restored, 1 some could not be.",
    )
    restore.add_argument(
        "--from", dest="source", metavar="URI", help="another store (path or URI) to copy from"
    )
    format_option(restore)
    restore.add_argument("--now", help="the time archived blobs are judged at (ISO 8601)")
    gc = command(
        store,
        "gc",
        cmd_store_gc,
        help="remove blobs no state record needs",
        description="Remove blobs that no recorded version needs; an archived version's blob "
        "is kept for store.keep_archived (default 90d) after its archive time.",
    )
    gc.add_argument("--dry-run", action="store_true", help="list what would be removed")
    format_option(gc)
    gc.add_argument("--now", help="the time to judge archive ages at (ISO 8601)")
