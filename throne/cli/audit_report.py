"""How `throne audit verify` reports: the summary table of a verification that passed, and
the one line (or JSON) of one that failed."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from throne.audit.format import AuditError


def fail(args: argparse.Namespace, exc: AuditError) -> int:
    message = str(exc)
    if args.json:
        print(json.dumps({"ok": False, "kind": exc.kind, "error": message}))
    print(f"throne: audit failed ({exc.kind}): {message}", file=sys.stderr)
    return 1


def _end_note(chain: dict[str, Any]) -> str:
    """How far the export is known to go: what its signed end record says, or why not."""
    if not chain["end_signed"]:
        return (
            f"unsigned (format version {chain['format_version']}): the export may have been "
            "cut after any checkpoint; export afresh for a signed end"
        )
    block = chain["complete_to_block"]
    if block is None:
        return "signed: complete (its events name no block)"
    return f"signed: complete to block {block}"


def print_table(report: dict[str, Any], *, published: list[tuple[str, str]] | None = None) -> None:
    """The report of a verification, one row a line; ``published``: rows of a published log's
    parts, after its source."""
    rows: list[tuple[str, str]] = [("source", report["source"]), *(published or [])]
    chain = report["chain"]
    if chain is None:
        rows.append(("hash chain", "not in a database: export to check signed checkpoints"))
    else:
        pinned = "" if chain["signer_pinned"] else " (not pinned: pass --signer)"
        rows += [
            ("hash chain", f"ok, {chain['checkpoints']} signed checkpoints"),
            ("signer", chain["signer"] + pinned),
            ("end", _end_note(chain)),
        ]
    decisions = ", ".join(f"{k} {v}" for k, v in sorted(report["decisions"].items())) or "none"
    rows += [
        ("events", str(report["events"])),
        ("samples", str(report["samples"])),
        ("decisions", decisions),
        ("verdicts recomputed", f"{report['verdicts_checked']}, all match"),
        ("weight vectors recomputed", f"{report['weights_checked']}, all match"),
        (
            "pools checked",
            f"{report['pools_checked']} against their seeds"
            + (
                f", {report['pools_unrevealed']} not yet revealed"
                if report["pools_unrevealed"]
                else ""
            ),
        ),
        ("time", f"{report['seconds']} s ({report['events_per_second']} events/s)"),
    ]
    if "rescored" in report:
        rows.insert(-1, ("responses re-scored", f"{report['rescored']}, all match"))
    if report.get("rescore_skipped_not_installed"):
        skipped = report["rescore_skipped_not_installed"]
        rows.insert(-1, ("not re-scored", f"{skipped}, of envs not installed here"))
    if "onchain" in report:
        c = report["onchain"]
        held = (
            f"match the last landed submission (block {c['submission_block']})"
            if c["submission_block"] is not None
            else "none, and none landed in the log"
        )
        rows.insert(
            -1, ("weights on chain", f"uid {c['validator_uid']}, block {c['chain_block']}: {held}")
        )
    width = max(len(k) for k, _ in rows)
    print("audit verify: OK")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
