"""Code that runs on other machines: the auditor's log verifier (and, later, holder and platform tools)."""
