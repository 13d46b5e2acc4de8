#!/bin/bash
# Entrypoint of every buildpack-built image: load .profile.d, then run the process command
# through bash so $PORT and friends expand, replacing this shell (signals reach the app).
cd /app || exit 1
for script in /app/.profile.d/*.sh; do
  # shellcheck disable=SC1090
  [ -r "$script" ] && . "$script"
done
exec bash -c "$*"
