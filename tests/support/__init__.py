"""Helpers for the tests: project folders, real SMTP servers, the browser."""
