import gateway as gateway_package
from tests.gateway.support import Gateway


async def test_gateway_stays_ready_while_a_service_is_down_and_reports_which(
    gateway_without_campaign: Gateway,
) -> None:
    response = await gateway_without_campaign.client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["services"] == {"identity": True, "campaign": False, "feedback": True}


async def test_healthz_reports_the_gateway_version(gateway_alone: Gateway) -> None:
    response = await gateway_alone.client.get("/healthz")

    assert response.json() == {"status": "ok", "service": "gateway", "version": gateway_package.VERSION}


async def test_metrics_count_graphql_requests(gateway_alone: Gateway) -> None:
    await gateway_alone.query("{ platform { name } }")

    metrics = (await gateway_alone.client.get("/metrics")).text

    assert (
        'crm_http_requests_total{method="POST",route="/graphql",service="gateway",status="200"} 1.0'
        in metrics
    )
