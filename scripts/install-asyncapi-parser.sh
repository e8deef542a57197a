#!/usr/bin/env bash
# Installs the official AsyncAPI parser (@asyncapi/parser, npm) that checks docs/asyncapi.yaml.
#
#   scripts/install-asyncapi-parser.sh          # prints the directory it is installed in
#
# It goes to $INTERPLAY_ASYNCAPI_PARSER_DIR (default ~/.cache/interplay/asyncapi-parser), out of
# the repository. Idempotent and fast once installed: npm runs only when the pinned version is
# missing. Needs node >= 18 and npm.
set -euo pipefail

version="3.6.3"
prefix="${INTERPLAY_ASYNCAPI_PARSER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/interplay/asyncapi-parser}"
installed="$prefix/node_modules/@asyncapi/parser/package.json"

if ! command -v npm >/dev/null 2>&1; then
    echo "install-asyncapi-parser: npm is not on PATH (install node 20 and npm)" >&2
    exit 3
fi
if [[ ! -f "$installed" ]] || ! grep -q "\"version\": \"$version\"" "$installed"; then
    mkdir -p "$prefix"
    echo "install-asyncapi-parser: installing @asyncapi/parser@$version into $prefix" >&2
    npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error \
        "@asyncapi/parser@$version" >&2
fi
echo "$prefix"
