"""ASGI apps (ingress and admin) on a tiny router: no web framework, nothing hidden."""
