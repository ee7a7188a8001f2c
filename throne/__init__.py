"""throne: the event-sourced validator of a winner-takes-all reasoning contest."""

__version__ = "0.1.0"
