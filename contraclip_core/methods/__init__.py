"""One package per method, the same module names for the same roles (``model``, ``train``, ``artefact``,
``evaluate``, ``publish``, ``service``, ``cli``, as far as a role applies). The table that lists them is
``methods.registry.METHODS``; importing this package loads none of them."""
