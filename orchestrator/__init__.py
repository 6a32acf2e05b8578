"""WhatsApp real-time backend for multi-agent helpdesks: the orchestrator.

Data flows one way: bridge -> transport -> follower (order, gaps, replay) -> consumers -> api.
"""

__version__ = "0.1.0"
