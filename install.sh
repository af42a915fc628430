#!/usr/bin/env bash
# Installs Sealpost as a hardened systemd service on one Debian/Ubuntu box.
# Idempotent: running it twice changes nothing the second time. Fails closed with a clear
# message when something it needs is missing.
set -euo pipefail

PREFIX=/opt/sealpost
CONF=/etc/sealpost/sealpost.toml
SRC="$(cd "$(dirname "$0")" && pwd)"

die() { echo "install.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (sudo ./install.sh)"
command -v node >/dev/null || die "node is not installed (Node 20.19+, 22 or 24)"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
  || die "node $(node --version) is too old: Node 20.19+ is required"
command -v systemctl >/dev/null || die "systemd is required"

getent group sealpost >/dev/null || groupadd --system sealpost
getent group sealpost-admin >/dev/null || groupadd --system sealpost-admin
id -u sealpost >/dev/null 2>&1 || useradd --system --gid sealpost --home-dir /var/lib/sealpost --shell /usr/sbin/nologin sealpost

mkdir -p "$PREFIX"
if [ "$SRC" != "$PREFIX" ]; then
  tar -C "$SRC" --exclude=./node_modules --exclude=./var --exclude=./.git -cf - . | tar -C "$PREFIX" -xf -
fi
cd "$PREFIX"
npm ci --no-audit --no-fund
npm prune --omit=dev --no-audit --no-fund
runuser -u sealpost -- node -e "require('$PREFIX/node_modules/better-sqlite3')" \
  || die "better-sqlite3 does not load as the service user (native build failed?)"

install -d -m 0750 -o root -g sealpost /etc/sealpost
if [ ! -f "$CONF" ]; then
  host="$(hostname -f 2>/dev/null || hostname)"
  cat > "$CONF" <<TOML
# Sealpost configuration: see $PREFIX/README.md and shared/CONTRACT.md.
data_dir = "/var/lib/sealpost"
hostname = "$host"

[smtp]
submission = "0.0.0.0:587"
submission_tls = "0.0.0.0:465"

[portal]
listen = "0.0.0.0:443"
public_url = "https://$host"

[control]
socket = "/run/sealpost/control.sock"
group = "sealpost-admin"
TOML
  chmod 0640 "$CONF"
  chgrp sealpost "$CONF"
fi

for unit in sealpost.service sealpost-backup.service sealpost-backup.timer; do
  install -m 0644 "$PREFIX/systemd/$unit" "/etc/systemd/system/$unit"
done
ln -sf "$PREFIX/dist/console/bin.js" /usr/local/bin/sealpost
systemctl daemon-reload
systemctl enable --now sealpost.service
systemctl enable --now sealpost-backup.timer
echo "Sealpost installed. Check it with: sealpost status"
echo "Escrow the master key now (/var/lib/sealpost/keys/master.key), away from this box: backups (daily, /var/lib/sealpost/backups) cannot be restored without it."
