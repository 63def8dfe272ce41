"""Model adapters: the run loops talk to models only through `kern.models.base.Model`."""
