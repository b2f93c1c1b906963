# Shared steps of the pinned side venvs (.ci/lava-venv.sh, .ci/spyx-venv.sh); sourced, not run.
#
# The sourcing script sets SIDE (its name in log lines), then calls, in order:
#   PY311="$(find_python311 "$OVERRIDE" OVERRIDE_VAR_NAME)"   a Python 3.11 (the override, python3.11, python3)
#   reuse_or_start "$@"    --rebuild: throw the venv away; a complete venv (MARKER holds KEY): print its python
#                          and exit 0; else start a fresh venv at VENV (needs VENV, KEY, MARKER, PY311, PIN_TEXT)
#   ... its own pip_q installs, fixes and import checks ...
#   finish                 write KEY to MARKER (the last step: an interrupted build is never reused), print the python

log() { echo "$SIDE-venv: $*" >&2; }
# pip prints one warning per local index folder that lacks a package; drop those lines, keep its exit code.
pip_q() { { "$VENV/bin/python" -m pip "$@" 2>&1 1>&3 | { grep -v "is ignored: it is neither a file nor a directory" || true; } >&2; } 3>&1; }

find_python311() {  # the pins were made for 3.11: $1 if set, else python3.11, else a python3 that is 3.11
    if [ -n "$1" ]; then echo "$1"; return; fi
    for cand in python3.11 python3; do
        if command -v "$cand" >/dev/null && [ "$("$cand" -c 'import sys; print(sys.version_info[:2] == (3, 11))')" = True ]; then
            echo "$cand"; return
        fi
    done
    log "no Python 3.11 found (set $2)"
    exit 1
}

reuse_or_start() {
    if [ "${1:-}" = "--rebuild" ]; then rm -rf "$VENV"; fi
    if [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$KEY" ] && [ -x "$VENV/bin/python" ]; then
        log "reusing $VENV"
        echo "$VENV/bin/python"
        exit 0
    fi
    T0=$(date +%s)
    log "building $VENV (pins: $PIN_TEXT)"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PY311" -m venv "$VENV" >&2
}

finish() {
    printf '%s' "$KEY" >"$MARKER"
    log "built in $(( $(date +%s) - T0 ))s"
    echo "$VENV/bin/python"
}
