"""Script compliance: the site grammar (what must be said, and what it is worth) and its checks."""
