import campaign
import feedback
import identity
from tests.gateway.support import Gateway

PLATFORM_QUERY = "{ platform { name version ready status } }"


async def test_platform_lists_every_service_with_its_version_and_readiness(gateway: Gateway) -> None:
    response = await gateway.query(PLATFORM_QUERY)

    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body
    assert body["data"]["platform"] == [
        {"name": "identity", "version": identity.VERSION, "ready": True, "status": "ok"},
        {"name": "campaign", "version": campaign.VERSION, "ready": True, "status": "ok"},
        {"name": "feedback", "version": feedback.VERSION, "ready": True, "status": "ok"},
    ]


async def test_unreachable_service_is_listed_unavailable_without_failing_the_query(
    gateway_without_campaign: Gateway,
) -> None:
    response = await gateway_without_campaign.query(PLATFORM_QUERY)

    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body
    services = {entry["name"]: entry for entry in body["data"]["platform"]}
    assert services["campaign"] == {
        "name": "campaign",
        "version": None,
        "ready": False,
        "status": "unavailable",
    }
    assert services["identity"]["status"] == services["feedback"]["status"] == "ok"


async def test_health_is_asked_without_the_callers_token(gateway: Gateway) -> None:
    await gateway.query(PLATFORM_QUERY)

    probes = gateway.requests_sent()
    assert sorted(request.url.path for request in probes) == sorted(["/healthz", "/readyz"] * 3)
    assert all("authorization" not in request.headers for request in probes)
