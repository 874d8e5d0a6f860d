"""The team inbox: triage, conversation work, replies, saved views, canned replies, live."""
