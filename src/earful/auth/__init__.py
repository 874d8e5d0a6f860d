"""Accounts: users, brand memberships with roles, sessions, CSRF, API tokens, access checks."""
