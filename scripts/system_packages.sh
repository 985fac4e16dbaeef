#!/usr/bin/env bash
# System packages the tests need: Debian's Chromium (driven by Playwright, no browser
# download) and CJK fonts so that screenshots show Chinese, for the browser tests; PostgreSQL
# and Redis, for the scale-out test (tests/test_scale_out.py starts its own throwaway server of
# each; the packages' own services are not needed). Needs root; installs only what is missing.
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || missing+=(fonts-noto-cjk)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
[ -x /usr/bin/redis-server ] || missing+=(redis-server)
# libGL and GLib for OpenCV (the picture reader's image library), colour emoji for the test
# screenshots, tesseract only for bench/ocr_bench.py's comparison.
for package in libgl1 libglib2.0-0 fonts-noto-color-emoji tesseract-ocr tesseract-ocr-chi-sim; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "The tests need: ${missing[*]}. Install them as root: sudo $0" >&2
    exit 1
fi
echo "Installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
