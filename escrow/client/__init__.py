"""Code that runs on other machines: the auditor's log verifier (audit), the key-holder tool (holder:
HTTP client and ceremony runner) and the platform SDK (verifier)."""
