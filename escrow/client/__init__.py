"""Code that runs on other machines: the auditor's log verifier (audit), the platform SDK
(verifier), and later the holder tools."""
