"""Works long enough for its credentials to be revoked meanwhile; no Pipes needed to watch it."""

import time

print("working", flush=True)
time.sleep(120)
