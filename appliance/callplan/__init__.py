"""What should happen to a call: connections, numbers, inbound routes, queues, hours and
outbound rules, as pure functions over typed data and ``now`` (no I/O). ``model`` holds the
types; ``numbers``, ``outbound``, ``hours``, ``inbound``, ``queues`` and ``cycles`` decide;
the call engine (``appliance/calls/``) carries the decisions out."""
