"""JSON API blueprints and the one table mapping errors to RFC 9457 problem responses."""
