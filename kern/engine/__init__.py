"""Pure asyncio run loops. No Ray here: a run takes a request and a cancellation and emits events."""
