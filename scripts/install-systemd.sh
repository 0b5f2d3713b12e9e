#!/usr/bin/env bash
# Install callmon as systemd services: the callmon user and group, /var/lib/callmon, /etc/callmon
# with a sample callmon.toml and an empty AMI secret file (mode 0640, group callmon: readable by
# the service only), and the units (callmon, callmon-worker@, callmon-export + timer, callmon-purge +
# timer) pointing at this checkout.  Idempotent: an existing config or secret is never overwritten; units are.
#   sudo scripts/install-systemd.sh            # on this server
#   scripts/install-systemd.sh --root DIR      # into a staging tree (packaging, tests): no users, no systemctl
set -euo pipefail
APP="$(cd "$(dirname "$0")/.." && pwd)"
ROOT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT="${2%/}"; shift 2 ;;
    *) echo "usage: $0 [--root DIR]" >&2; exit 2 ;;
  esac
done
real=0
[ -z "$ROOT" ] && real=1
if [ "$real" = 1 ] && [ "$(id -u)" -ne 0 ]; then
  echo "run as root (sudo), or with --root DIR for a staging tree" >&2
  exit 2
fi
own() { [ "$real" = 1 ] && chown "$@"; return 0; }

if [ "$real" = 1 ]; then
  getent group callmon >/dev/null || { groupadd --system callmon; echo "group callmon created"; }
  id -u callmon >/dev/null 2>&1 || {
    useradd --system --gid callmon --home-dir /var/lib/callmon --no-create-home --shell /usr/sbin/nologin callmon
    echo "user callmon created"; }
fi

install -d -m 0750 "$ROOT/var/lib/callmon" "$ROOT/var/lib/callmon/exports"
own -R callmon:callmon "$ROOT/var/lib/callmon"
install -d -m 0750 "$ROOT/etc/callmon"
own root:callmon "$ROOT/etc/callmon"

config="$ROOT/etc/callmon/callmon.toml"
if [ -e "$config" ]; then
  echo "kept $config"
else
  install -m 0640 "$APP/systemd/callmon.toml.example" "$config"
  own root:callmon "$config"
  echo "wrote $config (edit it; every key is explained in docs/operations.md)"
fi
secret="$ROOT/etc/callmon/ami.secret"
if [ -e "$secret" ]; then
  echo "kept $secret"
else
  (umask 0027 && : > "$secret")
  chmod 0640 "$secret"
  own root:callmon "$secret"
  echo "created $secret (empty: put the AMI password in it, one line)"
fi

install -d -m 0755 "$ROOT/etc/systemd/system"
for unit in "$APP"/systemd/*.service "$APP"/systemd/*.timer; do
  name="$(basename "$unit")"
  sed "s|/opt/callmon|$APP|g" "$unit" > "$ROOT/etc/systemd/system/$name.tmp"
  chmod 0644 "$ROOT/etc/systemd/system/$name.tmp"
  mv "$ROOT/etc/systemd/system/$name.tmp" "$ROOT/etc/systemd/system/$name"
  echo "installed /etc/systemd/system/$name"
done
if [ "$real" = 1 ] && command -v systemctl >/dev/null; then
  systemctl daemon-reload
  echo "next: systemctl enable --now callmon callmon-worker@1 callmon-export.timer callmon-purge.timer"
fi
