#!/usr/bin/env bash
# Installs the Debian packages yamori's tests use as real components (registry, skopeo,
# mmdebstrap, podman, runc, bpftrace, umoci; containerd and docker.io for the sensor's runtime
# clients (the tests start private daemons; the packages' own services are not needed);
# postgresql for the server store;
# chromium + chromium-driver drive the web console's browser tests). Idempotent;
# quick when everything is present.
set -euo pipefail
what="${1:-test}"
python_pkgs=(python3 python3-venv python3-pip)
test_pkgs=(docker-registry skopeo mmdebstrap podman runc bpftrace umoci containerd docker.io apache2-utils zstd hyperfine ca-certificates rpm db5.3-util gpg rake time postgresql chromium chromium-driver)
case "$what" in
  python) pkgs=("${python_pkgs[@]}") ;;
  test) pkgs=("${test_pkgs[@]}") ;;
  *) echo "usage: $0 python|test" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm installs real npm packages for the tests; machines that already have a Node.js of their
# own (not from Debian) keep it.
if [ "$what" = test ] && ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: missing ${missing[*]}; run as root or install them" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
