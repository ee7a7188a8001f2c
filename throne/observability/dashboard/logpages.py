"""The weights page (every submission, landed or failed, over blocks, with its u16 vector:
``/weights/submissions``) and the audit page (the log's head, the last signed checkpoint and
the commands that verify the log: ``/audit``)."""

from __future__ import annotations

from typing import Any

from throne.observability.dashboard import svg
from throne.observability.dashboard.html import bound, definition_list, esc, pager, table


def weights(page: dict[str, Any], now: dict[str, Any], src: str) -> str:
    """``page``: a page of ``/weights/submissions``; ``now``: ``/weights``."""
    subs: list[dict[str, Any]] = page["submissions"]
    blocks = [int(s["block"]) for s in subs]
    uids = sorted({str(uid) for s in subs for uid in s["weights"]}, key=int)
    series = [
        (
            f"UID {uid}",
            [(int(s["block"]), float(s["weights"].get(uid, 0.0))) for s in subs if s["ok"]],
        )
        for uid in uids
    ]
    marks = [
        svg.Mark(
            int(s["block"]),
            bool(s["ok"]),
            f"submission {s['number']} at block {s['block']}: {'landed' if s['ok'] else 'failed'}",
            f"#submission-{int(s['number'])}",
        )
        for s in subs
    ]
    chart = (
        svg.step_lines(
            series,
            marks,
            title="Weight per UID over blocks, and every submission",
            start=min(blocks),
            end=max(blocks),
        )
        if subs
        else "<p>No weight submission recorded yet.</p>"
    )
    rows = []
    for i, s in enumerate(subs):
        base = f"submissions.{i}."
        state = "ok" if s["ok"] else "failed"
        rows.append(
            f'<tr id="submission-{int(s["number"])}">'
            + bound(page, "number", "int", tag="td", cls="num", base=base)
            + bound(page, "block", "int", tag="td", cls="num", base=base)
            + bound(page, "ok", tag="td", cls=state, base=base)
            + bound(page, "weights", "json", tag="td", cls="mono", base=base)
            + bound(page, "u16", "json", tag="td", cls="mono", base=base)
            + bound(page, "extrinsic", "short", tag="td", cls="mono", base=base)
            + bound(page, "error", tag="td", base=base)
            + bound(page, "contest_version", "int", tag="td", cls="num", base=base)
            + "</tr>"
        )
    listed = table(
        "Submissions, oldest first",
        ["#", "Block", "Landed", "Weights", "u16 vector", "Extrinsic", "Error", "Contest version"],
        rows,
        empty="No weight submission recorded yet.",
    )
    current = definition_list(
        [
            ("Vector now", bound(now, "weights", "json", cls="mono")),
            ("Burn", bound(now, "burn", "weight")),
            ("Champion", bound(now, "champion.hotkey", href="/dashboard/miners/{champion.hotkey}")),
        ]
    )
    return (
        f'<section data-src="/weights"><h2>Now</h2>{current}</section>'
        f'<section data-src="{esc(src)}"><h2>Every submission</h2>'
        f"<figure>{chart}<figcaption>A line per UID: the weight each landed submission gave "
        "it. Below, every submission: a green dot where it landed, a red cross where it "
        "failed; each is a link to its row.</figcaption></figure>"
        f"{pager('/dashboard/weights', page['page'])}{listed}</section>"
    )


def audit(a: dict[str, Any]) -> str:
    head = definition_list(
        [
            ("Highest notification id", bound(a, "head.notification_id", "int")),
            ("Newest block named", bound(a, "head.block", "int")),
            ("Contest version", bound(a, "head.contest_version", "int")),
        ]
    )
    published = a.get("published")
    if published is None:
        where = (
            "<p>This log is not published here (no <code>[publish]</code> section): export it "
            "and verify the file.</p>"
        )
    else:
        where = definition_list(
            [
                ("Published to", bound(a, "published.to", cls="mono")),
                ("Endpoint", bound(a, "published.endpoint_url", cls="mono")),
                ("Parts", bound(a, "published.parts", "int")),
                ("Last checkpoint: part", bound(a, "published.last_checkpoint.part", "int")),
                ("Checkpoint number", bound(a, "published.last_checkpoint.seq", "int")),
                ("Events signed", bound(a, "published.last_checkpoint.events", "int")),
                ("Up to notification id", bound(a, "published.last_checkpoint.last_id", "int")),
                ("Complete to block", bound(a, "published.last_checkpoint.block", "int")),
                ("Head (sha256)", bound(a, "published.last_checkpoint.head", cls="mono")),
                ("Signer", bound(a, "published.last_checkpoint.signer", cls="mono")),
                ("Signature", bound(a, "published.last_checkpoint.signature", "short", cls="mono")),
                ("Not known because", bound(a, "published.error")),
            ]
        )
    commands = "".join(
        f'<pre class="command">{bound(a, f"verify_commands.{i}", tag="code")}</pre>'
        for i, _ in enumerate(a["verify_commands"])
    )
    return (
        f'<div data-src="/audit"><section><h2>The log\'s head</h2>{head}</section>'
        f"<section><h2>Published log</h2>{where}</section>"
        "<section><h2>Verify it yourself</h2><p>Replays the log from scratch: every verdict, "
        "every weight vector and every signed checkpoint is recomputed and compared.</p>"
        f"{commands}</section></div>"
    )
