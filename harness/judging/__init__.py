"""Judging: the requirement catalogue, the check functions, hints, and what the Cloud would conclude."""
