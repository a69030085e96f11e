"""The audit ledger: typed events, the hash chain, and its verifier."""
