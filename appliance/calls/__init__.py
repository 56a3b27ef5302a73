"""The call engine: what carries the SIP part's decisions out (trunk registrations first)."""
