#!/usr/bin/env bash
# A minimal Debian 13 (trixie) root with Debian's python3-torch 2.x, for testing and
# benchmarking tplaunch against PyTorch 2.x on a Debian 12 machine (whose own torch is
# 1.13). Built once with debootstrap from the mirror the machine's apt uses, cached
# OUTSIDE the clone so CI and later sessions reuse it.
#
#   scripts/torch2_root.sh build          build the root unless a complete one exists
#   scripts/torch2_root.sh run CMD ARGS   run CMD inside the root (see below)
#   scripts/torch2_root.sh python3 ARGS   shorthand for `run python3 ARGS`
#   scripts/torch2_root.sh wrapper DIR    write DIR/python3, a wrapper usable as PYTHON_EXEC
#   scripts/torch2_root.sh path           print the root's path (exit 1 if not built)
#   scripts/torch2_root.sh status         print the root's path and package versions
#
# `run` keeps the caller's environment and working directory: in a private mount
# namespace (unshare -m) it chroots into the root's /usr, /etc, /var, /opt plus the
# host's /dev, /proc, /sys, /tmp, /etc/hosts, the working directory, $TEST_TMPDIR
# and every directory in $TPLAUNCH_TORCH2_BINDS (colon separated), then execs CMD:
# CMD keeps the pid the caller started, so signals sent to it reach CMD itself. The
# network (loopback included) is shared; paths under /usr, /etc, /var and /opt are
# the root's own.
#
# Environment: TPLAUNCH_TORCH2_ROOT (default /var/cache/tplaunch/torch2-root),
# TPLAUNCH_TORCH2_MIRROR (default: the machine's first deb.debian.org-style
# mirror), TPLAUNCH_TORCH2_SUITE (default trixie).
#
# The root is built in a temporary directory beside its final path and renamed
# into place only when complete (with a stamp listing the package versions), so a
# half-built root is never used; a lock serialises concurrent builds.
set -euo pipefail

root=${TPLAUNCH_TORCH2_ROOT:-/var/cache/tplaunch/torch2-root}
suite=${TPLAUNCH_TORCH2_SUITE:-trixie}
stamp_name=.tplaunch-torch2-stamp
stamp=$root/$stamp_name
mnt_name=.tplaunch-mnt
case "$root" in
  /*/*) ;;
  *) echo "torch2_root: TPLAUNCH_TORCH2_ROOT=$root: expected an absolute path below /" >&2 && exit 2 ;;
esac

die() {
  echo "torch2_root: $*" >&2
  exit 1
}

usage() {
  sed -n '7,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# The mirror the machine's apt already uses (deb822 .sources or one-line lists).
default_mirror() {
  local uri
  uri=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '{print $2}' | grep -E '/debian/?$' | head -1 || true)
  if [ -z "$uri" ]; then
    uri=$(grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk '{print $2}' | grep -E '/debian/?$' | head -1 || true)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

built() { [ -f "$stamp" ]; }

build() {
  if built; then
    echo "torch2_root: $root is built ($(tr '\n' ' ' <"$stamp"))"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || die "building needs root (debootstrap, chroot)"
  command -v debootstrap >/dev/null ||
    die "debootstrap is not installed (scripts/setup.sh installs it)"
  local parent mirror
  parent=$(dirname "$root")
  mirror=${TPLAUNCH_TORCH2_MIRROR:-$(default_mirror)}
  mkdir -p "$parent"
  exec 9>"$root.lock"
  flock 9
  if built; then # another build finished while we waited for the lock
    echo "torch2_root: $root is built"
    return 0
  fi
  local started tmp
  started=$(date +%s)
  tmp=$(mktemp -d "$root.building.XXXXXX")
  # A failed or interrupted build leaves nothing that looks like a root.
  trap 'umount -R "$tmp/proc" 2>/dev/null || true; rm -rf --one-file-system "$tmp"' EXIT
  echo "torch2_root: debootstrap $suite from $mirror into $tmp"
  debootstrap --variant=minbase "$suite" "$tmp" "$mirror" >"$tmp.log" 2>&1 || {
    tail -20 "$tmp.log" >&2
    rm -f "$tmp.log"
    die "debootstrap $suite from $mirror failed (network? the log's tail is above)"
  }
  rm -f "$tmp.log"
  mount -t proc proc "$tmp/proc"
  # python3-numpy: torch's tensor <-> numpy bridge, which DDP examples touch.
  chroot "$tmp" /usr/bin/env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends python3-torch python3-numpy \
    >"$tmp.log" 2>&1 || {
    tail -20 "$tmp.log" >&2
    rm -f "$tmp.log"
    die "apt-get install python3-torch in the $suite root failed (the log's tail is above)"
  }
  rm -f "$tmp.log"
  chroot "$tmp" /usr/bin/python3 -c 'import torch.distributed as d; assert d.is_gloo_available()' ||
    die "torch.distributed with Gloo does not import in the $suite root"
  chroot "$tmp" apt-get clean
  mkdir "$tmp/$mnt_name" # where `run` mounts its skeleton (see enter)
  umount "$tmp/proc"
  chroot "$tmp" dpkg-query -W -f='${Package}=${Version}\n' python3 python3-torch libgloo0 \
    python3-numpy 2>/dev/null >"$tmp/$stamp_name" || true
  echo "suite=$suite" >>"$tmp/$stamp_name"
  echo "mirror=$mirror" >>"$tmp/$stamp_name"
  [ -e "$root" ] && rm -rf --one-file-system "$root" # a root without a stamp is half-built
  mv "$tmp" "$root"
  trap - EXIT
  echo "torch2_root: built $root in $(($(date +%s) - started)) s," \
    "$(du -sh --one-file-system "$root" | cut -f1): $(tr '\n' ' ' <"$stamp")"
}

# The root's own top-level directories, bound into the skeleton; the rest of its
# top level (home, root, run, mnt...) is left empty there, so host paths such as
# /root/.cache or /work can be bound at their own paths.
root_dirs=" usr etc var opt "

# Appends a bind of host directory $1 onto the same path in the skeleton to
# $fstab (and its mount point to $dirs), unless it is the root's own or bound whole.
add_bind() {
  local dir top
  dir=$(cd "$1" 2>/dev/null && pwd -P) || return 0
  top=${dir#/}
  top=${top%%/*}
  [ -n "$top" ] || return 0
  case " $root_dirs dev proc sys tmp " in
    *" $top "*) return 0 ;;
  esac
  dirs+=("$skel$dir")
  fstab+="${dir// /\\040} ${skel// /\\040}${dir// /\\040} none rbind 0 0"$'\n'
}

# Runs inside the private mount namespace (unshare -m, which makes every mount
# private), then becomes CMD. The chroot is a tmpfs skeleton mounted on the root's
# empty $mnt_name directory: the root's usr, etc, var and opt bound into it, the
# host's dev, proc, sys, tmp and /etc/hosts, and the caller's directories at their
# own paths. Nothing is ever written into the cached root, so concurrent runs and
# read-only sandboxes are fine. All binds go through one `mount -a` (a process
# per mount would cost a worker ~50 ms more to start).
enter() {
  skel=$root/$mnt_name
  mount -t tmpfs -o mode=755 tplaunch-torch2 "$skel"
  local d name links=()
  dirs=()
  fstab=""
  for d in "$root"/*; do
    name=${d##*/}
    if [ -L "$d" ]; then
      links+=("$(readlink "$d")" "$skel/$name") # merged /usr: bin -> usr/bin ...
    elif [ -d "$d" ]; then
      dirs+=("$skel/$name")
      case "$root_dirs" in
        *" $name "*) fstab+="$d $skel/$name none rbind 0 0"$'\n' ;;
      esac
    fi
  done
  for d in dev proc sys tmp; do
    fstab+="/$d $skel/$d none rbind 0 0"$'\n'
  done
  fstab+="/etc/hosts $skel/etc/hosts none bind 0 0"$'\n'
  add_bind "$PWD"
  [ -n "${TEST_TMPDIR:-}" ] && add_bind "$TEST_TMPDIR"
  local IFS=:
  for d in ${TPLAUNCH_TORCH2_BINDS:-}; do
    [ -n "$d" ] && add_bind "$d"
  done
  unset IFS
  mkdir -p "${dirs[@]}"
  local i
  for ((i = 0; i < ${#links[@]}; i += 2)); do
    ln -s "${links[i]}" "${links[i + 1]}"
  done
  printf '%s' "$fstab" >"$skel/.fstab"
  mount --all --fstab "$skel/.fstab"
  # chroot lives in /usr/sbin, which a caller's PATH may lack; CMD keeps that PATH.
  exec "$(PATH=$PATH:/usr/sbin:/sbin command -v chroot)" "$skel" /usr/bin/env --chdir="$PWD" -- "$@"
}

run() {
  [ $# -gt 0 ] || die "run: no command given"
  built || die "no PyTorch 2.x root at $root: run '$0 build' first"
  [ -d "$root/$mnt_name" ] ||
    die "$root has no $mnt_name (built by an older script): remove it and build again"
  [ "$(id -u)" -eq 0 ] || die "run needs root (unshare -m, chroot)"
  # unshare without --fork execs: the pid stays the caller's child's, through to CMD.
  exec unshare -m -- "$(readlink -f "$0")" __enter "$@"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  build) build ;;
  run) run "$@" ;;
  python3) run python3 "$@" ;;
  __enter) enter "$@" ;;
  path)
    built || die "no PyTorch 2.x root at $root"
    echo "$root"
    ;;
  status)
    if built; then
      echo "built: $root"
      cat "$stamp"
      du -sh --one-file-system "$root" | cut -f1 | sed 's/^/size=/'
    else
      echo "not built: $root"
      exit 1
    fi
    ;;
  wrapper)
    [ $# -eq 1 ] || die "wrapper: usage: $0 wrapper DIR"
    mkdir -p "$1"
    self=$(readlink -f "$0")
    printf '#!/bin/sh\n# PyTorch 2.x from %s (scripts/torch2_root.sh).\nexec %q run python3 "$@"\n' \
      "$root" "$self" >"$1/python3"
    chmod +x "$1/python3"
    echo "$1/python3"
    ;;
  *) usage ;;
esac
