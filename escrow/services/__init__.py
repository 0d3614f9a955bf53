"""Use cases: each takes its dependencies as arguments (session, keyring, now); no Flask."""
