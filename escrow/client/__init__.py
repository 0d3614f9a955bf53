"""What runs on other machines: the key-holder tool's HTTP client and ceremony runner."""
