"""The routing policy over the SIP layer: registrar, dial plan, proxy and guard."""
