#!/usr/bin/env bash
# The JavaScript SDK's own tests, on the Node.js of node.sh (no toolchain needed): the SDK's
# logic (dispatch, schema checks, error mapping, context, UTF-8, globals) with an in-memory
# host, and the example plugin plugins/report through the same in-memory host.
#
#   bash sdk/js/test.sh     # from any directory; exits non-zero on a failure
#
# The components themselves are tested through the real host by
# `cargo test -p harmonia-host --test host lang_js`.
set -euo pipefail

sdk_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(dirname "$(dirname "$sdk_dir")")"
cd "$repo_dir"
PATH="$(bash sdk/js/node.sh):$PATH"

node --check sdk/js/bin/harmonia-js-build.mjs
exec node --import ./sdk/js/register.mjs --test sdk/js/test/*.test.js plugins/report/test/*.test.js
