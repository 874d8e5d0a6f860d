"""Notifications to people and signed event webhooks to integrators, through the outbound queue."""
