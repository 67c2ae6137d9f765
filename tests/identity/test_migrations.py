import identity.models  # noqa: F401  (all tables registered)
from identity.database import metadata
from tests.conftest import Servers
from tests.support import assert_migrations_reversible_and_in_sync


async def test_migrations_are_reversible_and_match_the_models(servers: Servers) -> None:
    await assert_migrations_reversible_and_in_sync(servers.database_url, "identity", metadata)
