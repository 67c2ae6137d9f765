import subprocess
import sys
from pathlib import Path

import httpx

from identity.settings import IdentitySettings
from tests.identity.support import ADMIN, customer, identifier_values

CSV = """email,phone,external:shop,name,city,birth_date
kim@example.com,010-1234-0001,S-1,김민준,Seoul,1990-01-01
park@example.com,,S-2,Park Ji-hoon,Busan,
,010-1234-0001,,Kim Min-jun,,
lee@example.com,010-1234-0003,,이서연,Incheon,
bad-email,,,Nobody,,
kim@example.com,,S-9,Kim,,
"""


def test_import_resolves_a_file_through_the_same_rules(
    identity_client: httpx.AsyncClient, identity_settings: IdentitySettings, tmp_path: Path
) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(CSV, encoding="utf-8")
    env = {
        "CRM_IDENTITY_DATABASE_URL": identity_settings.database_url or "",
        "CRM_ENV": "dev",
        "PATH": "/usr/bin:/bin",
    }
    completed = subprocess.run(
        [sys.executable, "-m", "crm_platform.cli", "identity", "import", str(path), "--source", "legacy_crm"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # One bad row (invalid email) makes the exit status 2 but does not stop the others.
    assert completed.returncode == 2, completed.stderr
    # The last row matches kim@ but its second shop id is dropped: one external:shop per customer.
    assert "6 rows: 3 created, 2 matched, 0 merged, 0 conflicts, 0 suppressed, 1 rejected" in completed.stdout
    assert "row 6" in completed.stdout


async def test_imported_customers_are_readable_with_their_identifiers(
    identity_client: httpx.AsyncClient, identity_settings: IdentitySettings, tmp_path: Path
) -> None:
    import asyncio

    path = tmp_path / "customers.csv"
    path.write_text(CSV, encoding="utf-8")
    await asyncio.to_thread(
        test_import_resolves_a_file_through_the_same_rules, identity_client, identity_settings, tmp_path
    )
    found = await identity_client.get(
        "/v1/customers/lookup", params={"type": "phone", "value": "+821012340001"}, headers=ADMIN
    )
    record = await customer(identity_client, found.json()["id"])
    assert identifier_values(record) == {
        ("email", "kim@example.com"),
        ("phone", "+821012340001"),
        ("external:shop", "S-1"),
    }
    assert record["profile"]["city"]["source"] == "legacy_crm"
