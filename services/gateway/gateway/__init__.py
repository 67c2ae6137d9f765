"""GraphQL gateway: one customer-centric graph over identity, campaign and feedback."""

VERSION = "0.1.0"
