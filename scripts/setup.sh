#!/usr/bin/env bash
# Installs every Debian package tplaunch needs to build, test and benchmark. Idempotent:
# packages already present are skipped without touching the network.
set -euo pipefail

packages=(
  # Build: Bazel 4.2.3 and the libraries the code links against.
  bazel-bootstrap g++ git pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libspdlog-dev libfmt-dev libcli11-dev catch2 libgloo-dev
  # tprdzvd --state-dir keeps its keys in SQLite.
  libsqlite3-dev
  libhwloc-dev  # tplaunch --numa-binding reads the machine's topology with hwloc.
  # Sanitizer runtimes and libFuzzer.
  clang libclang-rt-14-dev clang-format
  # Network namespaces for multi-host tests; ps/pgrep for process checks.
  iproute2 procps
  slurm-client  # scontrol show hostnames: tests/launcher/scheduler compare the hostlist parser with it
  # A real Slurm (slurmctld, slurmd; munge for sites that use it) for slurm_e2e_test; util-linux's
  # nsenter/unshare put each slurmd in its own namespaces.
  slurm-wlm munge util-linux
  # TLS test certificates and headers; PyTorch (CPU, Gloo) for the drop-in and TCPStore tests.
  openssl libssl-dev python3-torch
  debootstrap # scripts/torch2_root.sh: a Debian 13 root with PyTorch 2.x (tests/dropin/torch2)
  # store/etcd: etcd's .proto files (build), and a real etcd and etcdctl for its tests.
  golang-etcd-server-dev etcd-server etcd-client
  # tprdzvd --http-port (rendezvous/http): the HTTP server; its tests' promtool and browser.
  libcpp-httplib-dev prometheus chromium
  # bench/run: plots.
  gnuplot-nox
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
