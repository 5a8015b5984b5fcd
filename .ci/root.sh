#!/usr/bin/env bash
# Debian roots with a newer QGIS, built with debootstrap from Debian's archive and kept between
# runs on this machine, so the suite and the demo can run against each supported QGIS.
#
#   .ci/root.sh build SUITE        # trixie (QGIS 3.40 LTR) or sid (QGIS 3.44); once, then cached
#   .ci/root.sh run SUITE CMD...   # CMD in a copy of this work tree inside the root (as root)
#
# The root lives in $ECORESP_ROOTS (default /var/cache/ecoresp/roots/SUITE). It is built in a
# temporary folder and renamed when complete, so an interrupted build is never taken for a root.
# The work tree is copied (not bind-mounted), so the root's .venv, caches and outputs never touch
# the host checkout. Needs root (debootstrap, chroot, mount).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cache="${ECORESP_ROOTS:-/var/cache/ecoresp/roots}"
mirror="${ECORESP_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# What the root needs: the packages of `make setup` (.ci/debian-packages), and git for `make zip`.
PACKAGES="$(grep -v '^#' "$here/.ci/debian-packages") git ca-certificates"
# Bump when PACKAGES change (4: python3-distributed, python3-zarr, python3-psutil): a cached root of an older recipe gets the packages installed in place.
RECIPE=4

usage() { sed -n '5,6p' "$0" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd="$1"; suite="$2"; shift 2
case "$suite" in trixie|sid) ;; *) echo "root.sh: suite must be trixie or sid, not '$suite'" >&2; exit 2;; esac
root="$cache/$suite"
apt_opts="-o Acquire::Check-Valid-Until=false -o Acquire::Retries=3"

mounts=()
unmount_all() {
  local i
  for (( i=${#mounts[@]}-1; i>=0; i-- )); do umount -l "${mounts[$i]}" 2>/dev/null || true; done
  mounts=()
}
mount_in() {  # mount_in ROOT: the kernel file systems a chroot needs
  local r="$1" d
  for d in proc sys dev dev/pts dev/shm; do
    mkdir -p "$r/$d"
    mount --bind "/$d" "$r/$d"
    mounts+=("$r/$d")
  done
  cp -L /etc/resolv.conf "$r/etc/resolv.conf" 2>/dev/null || true
  # This machine's CA bundle (it may hold a local proxy's CA that the root's bundle lacks), for pip
  cp -L /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/ecoresp-host-ca.crt" 2>/dev/null || true
}
in_root() {  # in_root ROOT CMD: a clean environment, headless Qt, the host's pip settings
  local r="$1"; shift
  local pass=() v
  for v in $(compgen -e | grep -E '^(PIP_[A-Z_]+|https?_proxy|HTTPS?_PROXY|no_proxy|NO_PROXY)$' | grep -v '^PIP_FIND_LINKS$\|^PIP_CERT$'); do
    pass+=("$v=${!v}")
  done
  [ -f "$r/etc/ssl/certs/ecoresp-host-ca.crt" ] && pass+=(PIP_CERT=/etc/ssl/certs/ecoresp-host-ca.crt)
  chroot "$r" env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 LC_ALL=C.UTF-8 QT_QPA_PLATFORM=offscreen CI="${CI:-}" DEBIAN_FRONTEND=noninteractive \
    ECORESP_BADINPUT_SAMPLE="${ECORESP_BADINPUT_SAMPLE:-}" \
    "${pass[@]}" bash -c "$*"
}

install_packages() {  # install_packages ROOT: QGIS and the scientific packages, then report versions
  local r="$1"
  in_root "$r" "apt-get $apt_opts update -qq && eatmydata apt-get $apt_opts install -y -qq --no-install-recommends $PACKAGES >/tmp/apt.log 2>&1 || { tail -30 /tmp/apt.log; exit 1; }; apt-get clean"
  in_root "$r" "python3 -c 'import qgis.core, numpy, sklearn, pandas; from osgeo import gdal; print(\"root.sh: $suite: QGIS\", qgis.core.Qgis.QGIS_VERSION, \"numpy\", numpy.__version__, \"scikit-learn\", sklearn.__version__, \"pandas\", pandas.__version__, \"GDAL\", gdal.__version__)'"
}

build() {
  if [ -f "$root/.ecoresp-root" ]; then
    if [ "$(cat "$root/.ecoresp-root")" = "$RECIPE" ]; then
      echo "root.sh: $suite root cached at $root"; return 0
    fi
    echo "root.sh: $suite root at $root is of an older recipe: installing the package list in place"
    trap 'unmount_all' EXIT
    mount_in "$root"
    install_packages "$root"
    unmount_all
    echo "$RECIPE" > "$root/.ecoresp-root"
    trap - EXIT
    return 0
  fi
  command -v debootstrap >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
  local eat=""
  command -v eatmydata >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq eatmydata >/dev/null 2>&1 || true
  command -v eatmydata >/dev/null && eat="eatmydata"
  mkdir -p "$cache"
  local tmp="$cache/.$suite.building.$$"
  rm -rf "$tmp"
  trap 'unmount_all; rm -rf "$tmp"' EXIT
  local t0=$SECONDS
  echo "root.sh: debootstrap $suite into $tmp"
  $eat debootstrap --variant=minbase --include=eatmydata "$suite" "$tmp" "$mirror" >"$cache/$suite.debootstrap.log" 2>&1 \
    || { tail -20 "$cache/$suite.debootstrap.log" >&2; exit 1; }
  mount_in "$tmp"
  echo "deb $mirror $suite main" > "$tmp/etc/apt/sources.list"
  echo "root.sh: installing QGIS and the scientific packages in $suite"
  install_packages "$tmp"
  unmount_all
  echo "$RECIPE" > "$tmp/.ecoresp-root"
  rm -rf "$root"; mv "$tmp" "$root"
  trap - EXIT
  echo "root.sh: $suite root built in $((SECONDS - t0)) s ($(du -sh "$root" | cut -f1))"
}

run() {
  [ -f "$root/.ecoresp-root" ] || build
  # In a mount namespace of its own: the root's /proc, /dev, ... mounts are private to this run
  # (two runs in one root do not unmount each other's) and vanish with it, whatever happens.
  if [ -z "${ECORESP_ROOT_NS:-}" ] && unshare --mount --propagation private true 2>/dev/null; then
    ECORESP_ROOT_NS=1 exec unshare --mount --propagation private bash "$0" run "$suite" "$@"
  fi
  work="/tmp/ecoresp-$$"
  trap 'unmount_all; rm -rf "${root:?}$work"' EXIT
  mkdir -p "$root$work"
  # The work tree as it is (tracked and untracked files, and .git for `make zip`), without the
  # host's venv, caches and outputs.
  (cd "$here" && tar -cf - --exclude=./.venv --exclude='__pycache__' --exclude=./demo_output \
     --exclude=./dist --exclude='.pytest_cache' --exclude=./tests/.qgis-settings .) | tar -xf - -C "$root$work"
  mount_in "$root"
  local quoted; quoted="$(printf '%q ' "$@")"
  in_root "$root" "cd $work && $quoted"
}

case "$cmd" in
  build) build ;;
  run) run "$@" ;;
  *) usage ;;
esac; exit $?  # on the same line: bash reads no further, even if this file is edited meanwhile
