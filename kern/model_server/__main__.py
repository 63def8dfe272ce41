"""``python -m kern.model_server``."""

from kern.model_server.cli import serve

serve()
