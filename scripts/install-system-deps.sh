#!/usr/bin/env bash
# Debian packages callmon's tests and reports need; does nothing when they are installed:
#  - chromium + chromium-driver: the web UI tests drive a real headless browser;
#  - fonts-noto-cjk: pages are in Chinese, screenshots should show it;
#  - fonts-wqy-zenhei: the CJK TrueType font embedded in the monthly PDF report;
#  - poppler-utils: pdftotext / pdffonts / pdftoppm, with which the tests check that PDF.
set -euo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
fc-list 2>/dev/null | grep -qi "noto sans cjk" || need+=(fonts-noto-cjk)
[ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || need+=(fonts-wqy-zenhei)
command -v pdffonts >/dev/null || need+=(poppler-utils)
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${need[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
