# Smoke test run with `sh` inside a container of the freshly imported build
# stack (no network), before the image gets its tags.
set -eu
python3 --version
python3 -m pip --version
python3 -m venv /tmp/venv && /tmp/venv/bin/python -c 'import ssl, sqlite3, ctypes'
test -f "$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h"
echo 'int main(void) { return 0; }' >/tmp/t.c && gcc -o /tmp/t /tmp/t.c && /tmp/t
make --version >/dev/null
node --version
npm --version
git --version
curl --version | head -n 1
test -s /etc/ssl/certs/ca-certificates.crt
test -d /app
