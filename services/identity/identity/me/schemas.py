from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from identity.customers.profile import canonical_trait

EDITABLE_FIELDS = {
    "name",
    "given_name",
    "surname",
    "birth_date",
    "address",
    "street_number",
    "city",
    "postcode",
    "state",
    "gender",
    "language",
    "time_zone",
}


class ProfileUpdate(BaseModel):
    """Profile fields the customer keeps up to date themself (recorded with source 'customer')."""

    model_config = ConfigDict(extra="forbid")

    traits: dict[str, str | None] = Field(min_length=1, max_length=len(EDITABLE_FIELDS))

    @field_validator("traits")
    @classmethod
    def _editable(cls, traits: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(name for name in traits if canonical_trait(name) not in EDITABLE_FIELDS)
        if unknown:
            raise ValueError(
                f"not editable: {', '.join(unknown)}; editable: {', '.join(sorted(EDITABLE_FIELDS))}"
            )
        for name, value in traits.items():
            if value is not None and (len(value) > 500 or any(ord(c) < 32 for c in value)):
                raise ValueError(f"{name}: at most 500 characters, no control characters")
        return traits
