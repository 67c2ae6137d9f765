"""Feedback service: ideas, votes and comments from prosumers, tied to the customers who give them."""

VERSION = "0.1.0"
