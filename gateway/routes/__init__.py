"""HTTP routes: the partner doors (messages, look-ups) and the ops endpoints."""
