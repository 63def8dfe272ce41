"""The Ray layer: agents and teams as long-lived async actors, and the supervisor that cancels runs."""
