"""Code that runs on other machines: the auditor's log verifier and the key-holder tool (HTTP client and
ceremony runner); later the platform tools."""
