"""HTTP: routes, content negotiation, templates and error responses."""
