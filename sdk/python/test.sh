#!/usr/bin/env bash
# Unit tests of the Python SDK (dispatch, error mapping, JSON, the component glue against
# stand-in bindings, the build command's staging) and of the example plugin textstats, on
# the host's CPython with unittest only. Exits non-zero on failure.
#
#   bash sdk/python/test.sh
set -euo pipefail

sdk_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(cd "$sdk_dir/../.." && pwd)"

command -v python3 >/dev/null || bash "$sdk_dir/install.sh"
export PYTHONDONTWRITEBYTECODE=1

cd "$sdk_dir"
python3 -m unittest discover -s tests -t . "$@"
cd "$repo_dir/plugins/textstats"
PYTHONPATH="$sdk_dir" python3 -m unittest discover -s . -p 'test_*.py' "$@"
