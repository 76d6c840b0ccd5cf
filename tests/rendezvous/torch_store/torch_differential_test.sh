#!/bin/sh
# Runs torch_differential_test.py with Debian's Python (where python3-torch lives).
# usage: torch_differential_test.sh PATH_TO_torch_store_test_server
set -eu
here=$(dirname "$0")
python=/usr/bin/python3
[ -x "$python" ] || python=python3
exec "$python" "$here/torch_differential_test.py" "$1"
