"""Audience: addresses, subscribers (CSV in and out, add, remove), signed tokens."""
