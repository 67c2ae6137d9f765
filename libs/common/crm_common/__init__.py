"""Infrastructure shared by every CRM service: settings, database, errors, auth, events, observability.

Nothing in here knows about customers, campaigns or ideas; domain code lives in the services.
"""
