"""The base model without fine-tuning, evaluated once as a reference."""


def no_adapter() -> dict:
    """An empty adapter bundle: the evaluate stage then scores the base model itself."""
    return {}
