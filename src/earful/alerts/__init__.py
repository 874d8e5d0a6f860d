"""Spike alerts: a brand's (negative) mentions far above their usual level."""
