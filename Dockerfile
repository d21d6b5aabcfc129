# syntax=docker/dockerfile:1
# Build:  docker build --platform linux/amd64 -t weather-api .   (ECS runs X86_64 tasks)
# Run:    docker run -p 8000:8000 -e WEATHER_DATABASE_URL=postgresql://... weather-api

# --- builder: resolve the locked dependencies into /app/.venv ---------------------------------
FROM python:3.11-slim-bookworm AS builder

# Bytecode is compiled once here instead of on every cold start; copy mode because the cache
# mount is a different filesystem; never let uv fetch a Python of its own.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

# uv comes from PyPI (pinned), so the build needs no other registry than PyPI and Docker Hub.
RUN pip install --no-cache-dir uv==0.13.9

WORKDIR /app

# Dependencies first: this layer is reused until pyproject.toml or uv.lock change. No dev and
# no default groups: the embedded PostgreSQL (the `embedded` group) stays out of the image.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-default-groups --no-install-project

# Then the project itself. It stays an editable install on purpose: the code finds
# alembic.ini relative to src/, so src/, alembic/ and alembic.ini keep their layout in /app.
COPY README.md alembic.ini ./
COPY alembic ./alembic
COPY src ./src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-default-groups

# --- runtime: same Python base (the venv links to its interpreter), no build tools ------------
FROM python:3.11-slim-bookworm AS runtime

# A fixed numeric uid lets orchestrators verify "runs as non-root"; the home directory is
# where the development-only embedded PostgreSQL would keep its data.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app app \
    && install -d -o app -g app /data

WORKDIR /app
# Code stays root-owned and read-only for the app user; only /data is writable.
COPY --from=builder /app /app
COPY --chmod=0755 docker/entrypoint.sh /app/docker/entrypoint.sh
COPY --chmod=0644 docker/db_roles.py /app/docker/db_roles.py
# The CA bundle of RDS (all regions), so tasks connect with sslmode=verify-full: asyncpg reads
# it through PGSSLROOTCERT. Fetched over HTTPS from AWS at build time; rebuild when AWS
# rotates its CAs.
ADD --chmod=0644 https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem \
    /app/certs/rds-global-bundle.pem

# WEATHER_DATA_ROOT: POST /api/load may only read local files below /data (mount data there).
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    WEATHER_DATA_ROOT=/data \
    PGSSLROOTCERT=/app/certs/rds-global-bundle.pem \
    WEATHER_PORT=8000

USER 10001:10001
EXPOSE 8000

# Liveness only (/health needs no database), so a slow database or data load never gets the
# container killed; readiness is the load balancer's job (/health/ready).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('WEATHER_PORT', '8000') + '/health', timeout=4)"]

# `serve` runs uvicorn with proxy headers on; it trusts X-Forwarded-* only from
# FORWARDED_ALLOW_IPS (uvicorn's default: 127.0.0.1). Behind a load balancer set it to the
# balancer's range (service.yaml: the VPC's CIDR), so Link and Location URLs say https.
ENTRYPOINT ["/app/docker/entrypoint.sh"]
