#!/usr/bin/env bash
# The no-server demo: builds twinbox, copies the bundled sample Maildir to target/demo/mail
# (so the checkout is never touched), syncs it two-way into a new Maildir
# target/demo/backup, prints the summary, then syncs again to show that a rerun changes
# nothing. Everything it writes is under target/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet
demo="$PWD/target/demo"
rm -rf "$demo"
mkdir -p "$demo"
cp -r examples/sample-maildir "$demo/mail"

cat > "$demo/config" <<CONF
[general]
accounts = Demo
metadata = $demo/state

[Account Demo]
localrepository = Backup
remoterepository = Mail

[Repository Mail]
type = Maildir
localfolders = $demo/mail

[Repository Backup]
type = Maildir
localfolders = $demo/backup
CONF

echo "== first sync: $demo/mail -> $demo/backup"
target/release/twinbox -c "$demo/config" sync
echo
echo "== second sync (nothing changed)"
target/release/twinbox -c "$demo/config" sync
echo
echo "The copy is in $demo/backup; open it with: neomutt -f $demo/backup/INBOX"
echo "Config used: $demo/config"
