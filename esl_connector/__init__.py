"""FreeSWITCH -> CRM connector (CTI): Event Socket in, CRM webhooks out."""

__version__ = "0.1.0"
