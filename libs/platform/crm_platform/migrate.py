"""`crm migrate`: create each service's database if missing, then run its Alembic migrations."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from sqlalchemy.engine import make_url

from crm_common.db import ensure_database
from crm_common.migrations import upgrade
from crm_platform.services import DATABASE_SERVICES, ServiceSpec


def migrate(specs: Iterable[ServiceSpec] = DATABASE_SERVICES, *, echo: bool = True) -> None:
    for spec in specs:
        settings = spec.database_settings()
        url = settings.async_database_url()
        target = make_url(url)
        if settings.database_url is None:
            assert settings.database_server_url is not None
            created = asyncio.run(ensure_database(settings.database_server_url, target.database or spec.name))
            if created and echo:
                print(f"created database {target.database}")
        upgrade(spec.source_dir(), url)
        if echo:
            print(f"{spec.name}: migrated {target.render_as_string(hide_password=True)} to head")
