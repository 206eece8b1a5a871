"""Settings: the TOML file -> typed, validated dataclasses, every problem
reported with its key path.

Owns: the service's settings (``config``), customers and their CRM endpoints
(``customers``, ``customer_config``), click-to-call and webphone tables
(``click2call_config``), phone normalisation and SIP text hygiene shared by
click-to-call and the call tracker (``phones``), and ``ConfigError``.
May import: ``esl_connector.records`` (the contract's event names) and the
standard library only. Every feature imports its settings from here; nothing
here imports a feature.
"""
