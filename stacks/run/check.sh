# Smoke test run with `sh` inside a container of the freshly imported run
# stack (no network), before the image gets its tags.
set -eu
python3 --version
python3 -m venv /tmp/venv && /tmp/venv/bin/python -c 'import ssl, sqlite3'
node --version
busybox --list | grep -qx httpd
mkdir -p /tmp/www && echo stack-ok >/tmp/www/index.html
busybox httpd -p 127.0.0.1:8080 -h /tmp/www
busybox wget -q -O - http://127.0.0.1:8080/ | grep -qx stack-ok
tini --version
ps --version >/dev/null
test -s /etc/ssl/certs/ca-certificates.crt
test -d /app
