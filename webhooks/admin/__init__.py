from webhooks.admin import endpoints, events  # noqa: F401 - registers
