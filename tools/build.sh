#!/usr/bin/env bash
# Builds ovlbox (bazel-bin/supervisor/ovlbox).
set -euo pipefail
cd "$(dirname "$0")/.."
bazel build //supervisor:ovlbox
