#!/bin/sh
# Offline stub: coverage tools cannot be downloaded here, so `bazel coverage` is unavailable.
echo "remote_coverage_tools is an offline stub: bazel coverage is not supported" >&2
exit 1
