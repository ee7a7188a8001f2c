"""One contest told through its transitions, shared by the view, CLI and status API tests.

Blocks: champ is crowned at 3 (cold start); chal dethrones it at 5, when weak's battle starts;
weak regresses and is terminated at 7, when late's battle starts (a few samples in); bad
committed garbage; idle is queued behind late.
"""

from __future__ import annotations

from tests.support.contest import Driver, fixed
from throne.domain.contest.samples import Sample

CHAMP_UID, CHAL_UID, WEAK_UID, BAD_UID, LATE_UID, IDLE_UID = 1, 2, 3, 4, 5, 6


def tell(d: Driver) -> Driver:
    d.join("champ", block=1, uid=CHAMP_UID)
    d.join("chal", block=2, uid=CHAL_UID)
    d.join("weak", block=3, uid=WEAK_UID)
    d.chain.register("bad", BAD_UID)
    d.chain.commit("bad", text="not a commitment", block=4)
    d.join("late", block=5, uid=LATE_UID)
    d.join("idle", block=6, uid=IDLE_UID)
    d.sync()
    assert d.tick(2) == ["pool_refreshed"]
    assert d.tick(3) == ["crowned"]
    d.score({"champ": fixed(0.2)})
    assert d.tick(4) == ["battle_started"]
    d.score({"chal": fixed(0.9)})
    # chal's samples as challenger already complete it as champion: weak starts at once.
    assert d.tick(5) == ["dethroned", "battle_started"]
    d.score({"weak": fixed(0.1)})
    assert d.tick(7) == ["terminated", "battle_started"]
    some = [w for w in d.app.pending_work() if w.hotkey == "late" and w.env == "SAT"][:2]
    d.app.record_samples(
        [Sample(w.pool, w.env, w.task_id, w.hotkey, w.revision, 1.0) for w in some]
    )
    return d
