"""What every layer stands on, and nothing else: the strict configuration section base and
file digests (later: durable writes).

``camera``, ``classifier``, ``actuators`` and ``edge`` may all import it; it imports none of them.
"""
