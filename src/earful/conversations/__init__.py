"""Conversations: a brand's threads with its customers."""
