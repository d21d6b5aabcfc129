"""Create or update the two database roles of a deployment, as the RDS master user.

- The migration role owns the schema: `weather-api migrate` runs as it.
- The runtime role is what `serve` and `load` need: read and write rows, temporary tables
  (the loader's staging), advisory locks; no DDL, so a compromised task cannot drop or
  alter tables.

Idempotent: every deploy runs it, and a re-run after a secret rotation sets the new
passwords. Names go through PostgreSQL's format(%I, %L), never through Python strings.
"""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg


async def execute(conn: asyncpg.Connection, template: str, *values: str) -> None:
    placeholders = "".join(f", ${i}::text" for i in range(2, len(values) + 2))
    statement = await conn.fetchval(f"SELECT format($1{placeholders})", template, *values)
    await conn.execute(statement)


async def ensure_roles(url: str, migrator: tuple[str, str], runtime: tuple[str, str]) -> None:
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            for name, password in (migrator, runtime):
                if not await conn.fetchval("SELECT true FROM pg_roles WHERE rolname = $1", name):
                    await execute(conn, "CREATE ROLE %I", name)
                await execute(conn, "ALTER ROLE %I WITH LOGIN PASSWORD %L", name, password)
            owner, app = migrator[0], runtime[0]
            database = await conn.fetchval("SELECT current_database()")
            await execute(
                conn, "GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I, %I", database, owner, app
            )
            await execute(conn, "GRANT USAGE, CREATE ON SCHEMA public TO %I", owner)
            await execute(conn, "GRANT USAGE ON SCHEMA public TO %I", app)
            # Membership lets the master user hand tables over and set default privileges.
            await execute(conn, "GRANT %I TO CURRENT_USER", owner)
            # Tables an earlier release migrated as the master user move to the migration role.
            for (table,) in await conn.fetch(
                "SELECT tablename FROM pg_tables"
                " WHERE schemaname = 'public' AND tableowner = current_user"
            ):
                await execute(conn, "ALTER TABLE public.%I OWNER TO %I", table, owner)
            await execute(
                conn,
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %I",
                app,
            )
            await execute(
                conn, "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO %I", app
            )
            # Tables and sequences of later migrations get the same grants.
            await execute(
                conn,
                "ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public"
                " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I",
                owner,
                app,
            )
            await execute(
                conn,
                "ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public"
                " GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO %I",
                owner,
                app,
            )
    finally:
        await conn.close()


def main() -> int:
    env = os.environ
    missing = [
        name
        for name in (
            "WEATHER_DATABASE_URL",
            "WEATHER_MIGRATION_DB_USER",
            "WEATHER_MIGRATION_DB_PASSWORD",
            "WEATHER_RUNTIME_DB_USER",
            "WEATHER_RUNTIME_DB_PASSWORD",
        )
        if not env.get(name)
    ]
    if missing:
        print(f"db_roles: missing environment variables: {', '.join(missing)}", file=sys.stderr)
        return 2
    asyncio.run(
        ensure_roles(
            env["WEATHER_DATABASE_URL"],
            (env["WEATHER_MIGRATION_DB_USER"], env["WEATHER_MIGRATION_DB_PASSWORD"]),
            (env["WEATHER_RUNTIME_DB_USER"], env["WEATHER_RUNTIME_DB_PASSWORD"]),
        )
    )
    print("db_roles: migration and runtime roles are up to date", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
