"""The shell scripts `SshEngineHost` runs on a box, one per SSH call, in POSIX ``sh``.

Every value that comes from outside (a rendered engine argument, a path, an id) enters a script
through `shlex.quote`, so the remote shell reads it as one word and never as syntax.

On the box, a deployment ``<id>`` is three files in the remote directory:

- ``<id>.json``: ``{"pid": P, "pgid": P, "start": T, "deployment": {...}}``, written by the
  engine's wrapper once it runs. ``P`` is the wrapper's pid, the leader of its own session and
  process group (``setsid``), so the whole engine is one group to end; ``T`` is its start time
  in clock ticks since boot (``/proc/P/stat``), so a pid the kernel has since given to another
  process is never mistaken for the engine, nor killed.
- ``<id>.log``: the engine's output.
- ``<id>.exit``: the engine's exit status, written by the wrapper when the engine ends.

A process is alive when ``/proc/P/stat`` exists with the recorded start time and is not a
zombie (an exited child nobody reaped, as under an init that never reaps, is gone).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

#: the remote exit status of a launch whose engine command is not found on the box
ENGINE_MISSING = 127

# The wrapper, run by setsid as `sh -c WRAPPER sh PREFIX DEPLOYMENT_JSON ARGV...`: records
# itself, runs the engine as its child, then records the engine's status. Field 22 of
# /proc/$$/stat is the start time; the wrapper's own name ("sh") has no spaces, so cut is exact.
_WRAPPER = (
    'p=$1; t=$(cut -d" " -f22 /proc/$$/stat); '
    'printf \'{"pid": %d, "pgid": %d, "start": %s, "deployment": %s}\\n\' '
    '$$ $$ "$t" "$2" > "$p.json.tmp" && mv "$p.json.tmp" "$p.json"; '
    'shift 2; "$@"; echo $? > "$p.exit"'
)

# Shared helpers: read a record's pid and start time; whether that process still runs; whether
# any process of a group still runs (zombies do not count).
_HELPERS = r"""
record() { pid=$(sed -n 's/^{"pid": \([0-9]*\),.*/\1/p' "$D/$1.json" 2>/dev/null)
  start=$(sed -n 's/^{.*, "start": \([0-9]*\),.*/\1/p' "$D/$1.json" 2>/dev/null); }
running() { [ -n "$pid" ] || return 1; s=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  s=${s##*") "}; set -- $s; [ "$1" != Z ] && [ "${20}" = "$start" ]; }
group_alive() { for f in /proc/[0-9]*/stat; do
    { read -r s < "$f"; } 2>/dev/null || continue; s=${s##*") "}; set -- $s
    [ "$3" = "$G" ] && [ "$1" != Z ] && return 0
  done; return 1; }
"""


def remote_dir_expr(remote_dir: str) -> str:
    """``remote_dir`` as a shell word: a leading ``~`` is the remote user's home, the rest is
    quoted."""
    if remote_dir == "~":
        return '"$HOME"'
    if remote_dir.startswith("~/"):
        return '"$HOME"/' + shlex.quote(remote_dir[2:])
    return shlex.quote(remote_dir)


def launch(
    remote_dir: str, deployment_id: str, argv: Sequence[str], env: Mapping[str, str], record: str
) -> str:
    """Start ``argv`` detached, in its own session, with ``env`` added; print its record.
    Exits `ENGINE_MISSING` when the engine's command is not found, before starting anything."""
    q = shlex.quote
    prefix = f'"$D"/{q(deployment_id)}'
    assignments = " ".join(q(f"{k}={v}") for k, v in env.items())
    command = " ".join(q(word) for word in argv)
    return f"""D={remote_dir_expr(remote_dir)}
mkdir -p "$D" || exit 70
command -v {q(argv[0])} >/dev/null 2>&1 || {{ echo "engine command not found: "{q(argv[0])} >&2; exit {ENGINE_MISSING}; }}
command -v setsid >/dev/null 2>&1 || {{ echo "setsid not found on the box" >&2; exit 71; }}
rm -f {prefix}.json {prefix}.exit
setsid sh -c {q(_WRAPPER)} sh {prefix} {q(record)} env {assignments} {command} > {prefix}.log 2>&1 < /dev/null &
i=0; while [ ! -s {prefix}.json ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
cat {prefix}.json
"""  # noqa: E501


def status(remote_dir: str, ids: Sequence[str]) -> str:
    """For each id, one line: ``<id> alive``, ``<id> exited <status>``, ``<id> gone`` (its
    process ended without a status: killed) or ``<id> none`` (no record on the box)."""
    words = " ".join(shlex.quote(i) for i in ids)
    return f"""D={remote_dir_expr(remote_dir)}
{_HELPERS}
for id in {words}; do
  if [ ! -f "$D/$id.json" ]; then echo "$id none"; continue; fi
  if [ -f "$D/$id.exit" ]; then echo "$id exited $(cat "$D/$id.exit")"; continue; fi
  record "$id"; if running; then echo "$id alive"; else echo "$id gone"; fi
done
"""


def listing(remote_dir: str) -> str:
    """The ids of every record in the remote directory, one a line."""
    return f"""D={remote_dir_expr(remote_dir)}
for f in "$D"/*.json; do [ -e "$f" ] || continue; b=${{f##*/}}; echo "${{b%.json}}"; done
"""


def stop(remote_dir: str, ids: Sequence[str], grace: float = 10.0) -> str:
    """End each id's process group (TERM, then KILL after ``grace`` seconds) and remove its
    record; the log stays, for whoever wants to read why. Prints ``<id> stopped`` for each."""
    words = " ".join(shlex.quote(i) for i in ids)
    tries = max(1, int(grace / 0.2))
    return f"""D={remote_dir_expr(remote_dir)}
{_HELPERS}
for id in {words}; do
  record "$id"
  if running; then
    G=$pid; kill -TERM -- "-$G" 2>/dev/null
    i=0; while group_alive "$G" && [ $i -lt {tries} ]; do sleep 0.2; i=$((i+1)); done
    if group_alive "$G"; then kill -KILL -- "-$G" 2>/dev/null
      i=0; while group_alive "$G" && [ $i -lt 25 ]; do sleep 0.2; i=$((i+1)); done; fi
  fi
  rm -f "$D/$id.json" "$D/$id.json.tmp" "$D/$id.exit"
  echo "$id stopped"
done
"""


def preflight(argv0: str) -> str:
    """Where the engine's command is on the box (``command -v``); exits `ENGINE_MISSING`
    when it is not found, 71 when ``setsid`` is missing."""
    q = shlex.quote
    return f"""command -v {q(argv0)} || exit {ENGINE_MISSING}
command -v setsid >/dev/null 2>&1 || {{ echo "setsid not found on the box" >&2; exit 71; }}
"""
