"""One router module per resource; ``service.api.app`` includes them."""
