"""Campaign service: audiences built from the customer read model, and closed-loop campaigns."""

VERSION = "0.1.0"
