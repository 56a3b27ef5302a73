"""Provisioning: ``resolve(path, peer)`` serves phones their files over TFTP and HTTP."""
