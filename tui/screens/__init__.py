"""The TUI's screens, one per module: the four main views (dashboard,
extensions, calls, deliveries), the detail screens and the confirmation."""
