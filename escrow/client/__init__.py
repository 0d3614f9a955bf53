"""What runs on other machines: the platform SDK (escrow.client.verifier)."""
