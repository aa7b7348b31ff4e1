"""Utlägg: expense reports, approvals, and the organization's allowance policy."""
