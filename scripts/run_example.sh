#!/usr/bin/env bash
# The main job: installs what is missing, builds tplaunch and the example trainer, and runs
# a real 4-process data-parallel job on the launcher's embedded rendezvous (no daemon to
# start). Extra arguments go to tplaunch before the program, e.g. --nproc 8.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
bazel build //launcher:tplaunch //examples:train
exec bazel-bin/launcher/tplaunch --nproc 4 "$@" bazel-bin/examples/train
