import pytest

from crm_common.settings import InsecureConfiguration
from identity.settings import IdentitySettings

REAL_SECRET = "x" * 40


def test_the_dev_erasure_salt_is_refused_outside_dev() -> None:
    with pytest.raises(InsecureConfiguration, match="ERASURE_SALT"):
        IdentitySettings(environment="prod", jwt_secret=REAL_SECRET)


def test_a_real_erasure_salt_is_accepted_in_prod() -> None:
    settings = IdentitySettings(environment="prod", jwt_secret=REAL_SECRET, erasure_salt="s" * 32)
    assert settings.erasure_salt == "s" * 32
