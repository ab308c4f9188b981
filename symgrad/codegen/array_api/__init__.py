"""The array-API target (``--target array-api``): config, printer; templates in
``templates/array_api/``."""
