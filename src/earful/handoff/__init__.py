"""Handoff: move a conversation to email, a helpdesk, a direct message or any webhook."""
