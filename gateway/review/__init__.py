"""The information-governance review pages (server-rendered; see docs/ig-officers.md)."""
