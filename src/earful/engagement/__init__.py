"""Engagement: signed public replies, compliments and the outbound queue that sends them."""
