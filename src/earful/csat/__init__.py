"""Customer satisfaction: the survey after a resolved conversation, its signed link."""
