"""One router module per resource; ``service.app`` includes them."""
