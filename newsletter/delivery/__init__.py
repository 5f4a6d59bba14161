"""Delivery: the send manager, its pacing and progress, and the transports."""
