#!/bin/sh
# Container entrypoint: bring the schema to head, then serve, or run the subcommand given as
# arguments (e.g. `load s3-copy/` or `stats`), or `db-roles` (docker/db_roles.py).
set -eu

# Overridable so tests can point it at a virtualenv's script.
bin="${WEATHER_API_BIN:-weather-api}"

# On AWS the database credentials arrive as separate Secrets Manager values (so a rotated
# password only needs new tasks, no template change); the application wants one URL, so
# assemble it here with user and password percent-encoded.
if [ -z "${WEATHER_DATABASE_URL:-}" ] && [ -n "${WEATHER_DB_HOST:-}" ]; then
    WEATHER_DATABASE_URL="$("${WEATHER_PYTHON:-python3}" -c '
import os
from urllib.parse import quote

env = os.environ
user = quote(env["WEATHER_DB_USER"], safe="")
password = quote(env["WEATHER_DB_PASSWORD"], safe="")
host = env["WEATHER_DB_HOST"]
port = env.get("WEATHER_DB_PORT", "5432")
name = env.get("WEATHER_DB_NAME", "weather")
ssl = env.get("WEATHER_DB_SSL", "")
query = "?ssl=" + quote(ssl) if ssl else ""
print(f"postgresql://{user}:{password}@{host}:{port}/{name}{query}")
')"
    export WEATHER_DATABASE_URL
fi

if [ "$#" -eq 0 ]; then
    set -- serve --host "${WEATHER_HOST:-0.0.0.0}" --port "${WEATHER_PORT:-8000}" \
        --workers "${WEATHER_WORKERS:-2}"
fi

case "$1" in
    # Database roles (deploy/aws/service.yaml's roles task): before any migration, as the
    # master user; the migration then runs as the role this creates.
    db-roles)
        shift
        exec "${WEATHER_PYTHON:-python3}" "$(dirname "$0")/db_roles.py" "$@"
        ;;
    # These need no migration first: migrate does it itself, smoke only talks HTTP.
    migrate | smoke | -h | --help) ;;
    *) "$bin" migrate ;;
esac

exec "$bin" "$@"
