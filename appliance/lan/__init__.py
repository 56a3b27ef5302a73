"""What this host knows of its LAN: the kernel neighbor table and phone vendors' MAC prefixes.

Shared by discovery (who is out there) and provisioning (who may fetch a per-MAC file).
"""
