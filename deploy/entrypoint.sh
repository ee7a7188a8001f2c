#!/bin/sh
# The image's entrypoint: `throne ARGS...`, after checking what a container gets wrong most.
# Also runs outside a container, in any venv that has throne on its PATH.
set -eu

if ! command -v throne >/dev/null 2>&1; then
    echo "throne-entrypoint: no throne command on PATH (install the package: pip install .)" >&2
    exit 127
fi

# A config named on the command line must be readable by this user: say so in one line, not
# with a traceback from deep inside.
previous=""
for arg in "$@"; do
    if [ "$previous" = "--config" ] && [ ! -r "$arg" ]; then
        echo "throne-entrypoint: cannot read the config $arg as $(id -un 2>/dev/null || id -u) (mount it read-only, mode 0644)" >&2
        exit 2
    fi
    previous="$arg"
done

exec throne "$@"
