from fastapi import APIRouter, Request

from crm_common.auth import CurrentCustomer, Principal
from crm_common.db import SessionDep
from crm_common.errors import problem_responses
from identity.consents.schemas import ConsentPublic, ConsentsUpdate
from identity.customers import service as customers
from identity.customers.router import customer_public
from identity.customers.schemas import CustomerPublic
from identity.me import service
from identity.me.schemas import ProfileUpdate

router = APIRouter(prefix="/v1/me", tags=["me (customer token)"], responses=problem_responses(401, 403, 404))


async def _me(session: SessionDep, principal: Principal) -> customers.ResolvedCustomer:
    assert principal.customer_id is not None  # CurrentCustomer guarantees it
    return await customers.get_customer(session, principal.customer_id)


@router.get("", summary="My profile: golden values with their sources, my identifiers")
async def get_me(request: Request, session: SessionDep, principal: CurrentCustomer) -> CustomerPublic:
    return await customer_public(session, await _me(session, principal), request.app.state.settings)


@router.patch("", summary="Update my own profile fields", responses=problem_responses(422))
async def update_me(
    request: Request, body: ProfileUpdate, session: SessionDep, principal: CurrentCustomer
) -> CustomerPublic:
    me = await _me(session, principal)
    await service.update_profile(session, me.customer.id, body.traits, request.app.state.settings)
    return await customer_public(session, await _me(session, principal), request.app.state.settings)


@router.get("/consents")
async def get_consents(session: SessionDep, principal: CurrentCustomer) -> list[ConsentPublic]:
    me = await _me(session, principal)
    rows = await service.current_consents(session, me.customer.id)
    return [ConsentPublic.model_validate(row, from_attributes=True) for row in rows]


@router.put("/consents", summary="Set consent per channel and purpose (each change kept with its provenance)")
async def set_consents(
    body: ConsentsUpdate, session: SessionDep, principal: CurrentCustomer
) -> list[ConsentPublic]:
    me = await _me(session, principal)
    rows = await service.set_consents(
        session, me.customer.id, body.consents, actor=f"customer:{principal.subject}", source="self_service"
    )
    return [ConsentPublic.model_validate(row, from_attributes=True) for row in rows]
