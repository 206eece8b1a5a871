"""The FreeSWITCH events the connector subscribes to: the one place they are named.

Everything the call tracker, the extension tracker and the command layer read
is in this list; nothing else is requested, so a busy FreeSWITCH does not
stream CODEC, CHANNEL_EXECUTE or API events we would throw away.
"""

CHANNEL_EVENTS = (
    "CHANNEL_CREATE",          # a leg exists: who, which direction, which call
    "CHANNEL_PROGRESS",        # 180 Ringing: an extension starts ringing
    "CHANNEL_PROGRESS_MEDIA",  # 183 early media: also ringing for some phones/trunks
    "CHANNEL_ANSWER",          # a leg is answered
    "CHANNEL_BRIDGE",          # two legs joined (links legs into one call)
    "CHANNEL_UNBRIDGE",
    "CHANNEL_HANGUP_COMPLETE", # final variables: causes, billsec, timestamps
    "RECORD_START",            # the recording's file path
    "RECORD_STOP",
)
COMMAND_EVENTS = ("BACKGROUND_JOB",)  # bgapi results, matched by Job-UUID
LIVENESS_EVENTS = ("HEARTBEAT",)      # the watchdog's clock
CUSTOM_SUBCLASSES = ("sofia::register", "sofia::unregister", "sofia::expire")

EVENT_NAMES = CHANNEL_EVENTS + COMMAND_EVENTS + LIVENESS_EVENTS


def subscribe_command(event_format: str = "json") -> str:
    """The ``event`` command that subscribes to exactly what we track."""
    if event_format not in ("json", "plain"):
        raise ValueError(f"event format must be 'json' or 'plain', not {event_format!r}")
    return " ".join(("event", event_format, *EVENT_NAMES, "CUSTOM", *CUSTOM_SUBCLASSES))
