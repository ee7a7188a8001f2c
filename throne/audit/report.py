"""What a verification found: the summary of an export it read, and the report of a whole
audit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from throne.audit.onchain import ChainCheck
    from throne.audit.replay import ReplaySummary
    from throne.audit.rescore import RescoreSummary


@dataclass
class ExportSummary:
    """An export read through: who signed it, how many events and checkpoints, where its links
    end, and what its end record vouches for."""

    application: str = ""
    signer: str = ""
    format_version: int = 0
    events: int = 0
    checkpoints: int = 0
    first_id: int | None = None
    last_id: int | None = None
    head: str = ""
    topics: dict[str, int] = field(default_factory=dict)
    #: whether the end record is signed (format version 3 on): the export is known whole
    end_signed: bool = False
    #: the newest chain block the signed end record says the export is complete to
    block: int | None = None


@dataclass(frozen=True)
class AuditReport:
    """Everything checked out: what was read, and what was recomputed."""

    #: what was read, as a reader names it ("standard input", a path, a database)
    source: str
    #: the export's summary; None for a database, which holds no signed checkpoints
    export: ExportSummary | None
    replay: ReplaySummary
    #: the responses re-scored, when asked for (a database only)
    rescored: RescoreSummary | None = None
    #: the validator's weights on chain against the log's last submission, when asked for
    onchain: ChainCheck | None = None
    #: whether the signer was given (else the export's own is taken at its word)
    signer_pinned: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The report as ``throne audit verify --json`` prints it (but for the time taken)."""
        export = self.export
        # "chain" names the export's summary in the printed report, as it always has
        out: dict[str, Any] = {"source": self.source, "chain": None}
        if export is not None:
            out["chain"] = {
                "events": export.events,
                "checkpoints": export.checkpoints,
                "signer": export.signer,
                "signer_pinned": self.signer_pinned,
                "format_version": export.format_version,
                "head": export.head,
                "end_signed": export.end_signed,
                "complete_to_block": export.block,
            }
        if self.rescored is not None:
            out["rescored"] = self.rescored.rescored
            if self.rescored.skipped_not_installed:
                out["rescore_skipped_not_installed"] = self.rescored.skipped_not_installed
        if self.onchain is not None:
            out["onchain"] = self.onchain.to_dict()
        out["ok"] = True
        out.update((name, getattr(self.replay, name)) for name in _REPLAY_COUNTS)
        return out


#: What the report tells of the replay, in the order it tells it.
_REPLAY_COUNTS = (
    "events",
    "samples",
    "verdicts_checked",
    "weights_checked",
    "pools_checked",
    "pools_unrevealed",
    "decisions",
)
