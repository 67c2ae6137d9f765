"""Identity service: resolves identifiers from every channel into one customer with one timeline."""

VERSION = "0.1.0"
