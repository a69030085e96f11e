"""OAuth 2.0 client credentials with signed-JWT client assertions (private_key_jwt)."""
